// sample_rows v2: one 1024-thread block per row, the row read in tiles of 1024 x V values (V = 4:
// 16-byte loads, two tiles in flight) so one SM keeps enough loads outstanding; a handful of passes
// over the row (L2-resident for a 128k vocabulary), no sort. The lab (lab/sample_lab.cu) times it
// against v1, which read one value per thread per step and took ~40 us a pass.
//  - pass 0: argmax (the greedy and degenerate picks), largest finite logit, finite count;
//  - top-k: radix select of the k-th largest logit over order-preserving 32-bit keys, 8 bits a
//    pass, in shared-memory histograms;
//  - top-p: the same select weighted by probability mass, over the tokens top-k kept;
//  - the draw: kept mass per run of tiles, a scan over the runs, then a block-wide scan of the
//    owning run's tiles finds the token.
// Histogram updates are warp-aggregated (lanes hitting one bin add once), which is what keeps
// logits that crowd into a few bins from serialising on a single shared-memory address.
// The kept set is always "key > K, or key == K among the first R such tokens by index", which
// states top-k and top-p with their ties in the host sampler's order. Masses are fixed point
// (exp((x - max) / T) x 2^40 in 64-bit integers): sums are exact and order-free.
#include <cfloat>
#include <climits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels/sample.h"

namespace ferrum::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kRuns = 32;  // the draw's first level: the row's tiles in at most this many runs
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kBins = 256;
using u64 = unsigned long long;

__device__ __forceinline__ float weight(float v, float max, float temperature) {
  return expf((v - max) / temperature);
}
// At most 2^40 per token; split at bit 20 its halves sum over a warp within 32 bits.
__device__ __forceinline__ u64 fixed_mass(float w) {
  return __float2ull_rn(w * 0x1p40f);
}

// Order-preserving key of a finite float: larger values get larger keys, -0 and +0 the same one.
// Every finite key is above 0, so "key > 0" keeps every finite logit.
__device__ __forceinline__ uint32_t order_key(float v) {
  const uint32_t bits = __float_as_uint(v == 0.0f ? 0.0f : v);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}
__device__ __forceinline__ float key_value(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

// a before b in argmax_rows' ranking: larger value, then lower index; NaN after every number.
__device__ __forceinline__ bool ranks_before(float a, int32_t ia, float b, int32_t ib) {
  const bool a_nan = isnan(a), b_nan = isnan(b);
  if (a_nan != b_nan) return b_nan;
  if (a_nan || a == b) return ia < ib;
  return a > b;
}

// The warp's best (value, index) in argmax_rows' ranking, in every lane.
__device__ __forceinline__ void warp_best(float& best, int32_t& best_index) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(kFullMask, best, offset);
    const int32_t other_index = __shfl_xor_sync(kFullMask, best_index, offset);
    if (ranks_before(other, other_index, best, best_index)) {
      best = other;
      best_index = other_index;
    }
  }
}

template <class T>
__device__ __forceinline__ T warp_inclusive_scan(T value) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int offset = 1; offset < 32; offset *= 2) {
    const T other = __shfl_up_sync(kFullMask, value, offset);
    if (lane >= offset) value += other;
  }
  return value;
}

template <class T>
__device__ __forceinline__ T warp_sum(T value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(kFullMask, value, offset);
  return value;
}

struct Shared {
  uint32_t count[kBins];
  u64 mass[kBins];
  u64 run_mass[kRuns][kWarps];  // the draw: per run, each warp's share
  uint32_t run_ties[kRuns][kWarps];
  u64 slots_u64[kWarps];
  uint32_t slots_u32[kWarps];
  float slots_f32[kWarps];
  int32_t slots_i32[kWarps];
  int digit;
  u64 above;
  int found;
  int owner_run;
  u64 running;
  uint32_t ties_seen;
  u64 kept_mass;
  u64 target;
};

// The reduction of `value` over the block with `op`, returned to every thread.
template <class T, class Op>
__device__ T block_reduce(T value, Op op, T* slots) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value = op(value, __shfl_xor_sync(kFullMask, value, offset));
  if (threadIdx.x % 32 == 0) slots[threadIdx.x / 32] = value;
  __syncthreads();
  value = slots[threadIdx.x % 32];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value = op(value, __shfl_xor_sync(kFullMask, value, offset));
  __syncthreads();
  return value;
}

// Exclusive prefix sum over the block in thread order; `total` gets the sum of all.
template <class T>
__device__ T block_exclusive_scan(T value, T* slots, T& total) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const T inclusive = warp_inclusive_scan(value);
  if (lane == 31) slots[warp] = inclusive;
  __syncthreads();
  const T warp_total = slots[lane];
  const T warps_through = warp_inclusive_scan(warp_total);
  total = __shfl_sync(kFullMask, warps_through, 31);
  const T before_warp = __shfl_sync(kFullMask, warps_through - warp_total, warp);
  __syncthreads();
  return before_warp + inclusive - value;
}

// The row as tiles of kThreads x V values: thread t holds tile * kThreads * V + t * V + (0 .. V-1).
// Values past the row read as NaN: never finite, never kept, never drawn.
template <int V>
struct Row {
  const float* x;
  size_t cols;
  size_t tiles;

  __device__ Row(const float* values, size_t n)
      : x(values), cols(n), tiles((n + size_t{kThreads} * V - 1) / (size_t{kThreads} * V)) {}

  __device__ size_t first(size_t tile) const { return (tile * kThreads + threadIdx.x) * V; }

  __device__ void load(size_t tile, float (&v)[V]) const {
    const size_t e = first(tile);
    if constexpr (V == 4) {
      if (e + 4 <= cols) {
        const float4 f = __ldg(reinterpret_cast<const float4*>(x + e));
        v[0] = f.x;
        v[1] = f.y;
        v[2] = f.z;
        v[3] = f.w;
        return;
      }
    }
#pragma unroll
    for (int j = 0; j < V; ++j) v[j] = e + j < cols ? __ldg(x + e + j) : __int_as_float(0x7fffffff);
  }

  // f(tile, values) for every tile in order, loads two tiles ahead. The trip count is the same in
  // every thread, so f may use warp-wide operations.
  template <class F>
  __device__ void for_each_tile(F f) const {
    for (size_t t = 0; t < tiles; t += 2) {
      float a[V], b[V];
      load(t, a);
      if (t + 1 < tiles) load(t + 1, b);
      f(t, a);
      if (t + 1 < tiles) f(t + 1, b);
    }
  }
};

// Every lane with `take` adds 1 (and `mass` when `with_mass`) to its bin; lanes sharing a bin are
// summed first and add once.
__device__ __forceinline__ void add_to_bin(Shared& s, bool take, uint32_t bin, u64 mass, bool with_mass) {
  const unsigned peers = __match_any_sync(kFullMask, take ? bin : 0xffffffffu);
  if (!take) return;
  const bool leader = static_cast<int>(threadIdx.x % 32) == __ffs(peers) - 1;
  if (with_mass) {
    const uint32_t high = __reduce_add_sync(peers, static_cast<uint32_t>(mass >> 20));
    const uint32_t low = __reduce_add_sync(peers, static_cast<uint32_t>(mass & 0xfffffu));
    if (leader) atomicAdd(&s.mass[bin], (static_cast<u64>(high) << 20) + low);
  }
  if (leader) atomicAdd(&s.count[bin], static_cast<uint32_t>(__popc(peers)));
}

// Warp 0: walking the bins from 255 down, the first at which the running total reaches `need`
// (s.digit, with s.above the total of the bins above it); s.found = 0 when the total never does.
template <class T>
__device__ void walk_bins(const T* bins, T need, Shared& s) {
  if (threadIdx.x >= 32) return;
  const int lane = threadIdx.x;
  T mine = 0;
  for (int j = 0; j < 8; ++j) mine += bins[kBins - 1 - 8 * lane - j];
  const T inclusive = warp_inclusive_scan(mine);
  const unsigned hit = __ballot_sync(kFullMask, inclusive >= need);
  if (hit == 0) {
    if (lane == 0) s.found = 0;
    return;
  }
  if (lane == __ffs(hit) - 1) {
    T running = inclusive - mine;
    for (int j = 0; j < 8; ++j) {
      const int bin = kBins - 1 - 8 * lane - j;
      if (running + bins[bin] >= need) {
        s.digit = bin;
        s.above = static_cast<u64>(running);
        s.found = 1;
        break;
      }
      running += bins[bin];
    }
  }
}

__device__ void clear_bins(Shared& s) {
  for (int i = threadIdx.x; i < kBins; i += kThreads) {
    s.count[i] = 0;
    s.mass[i] = 0;
  }
  __syncthreads();
}

// The top_k-th largest finite key (K) and how many tokens of that key top-k keeps (R).
template <int V>
__device__ void select_top_k(const Row<V>& row, uint32_t k, Shared& s, uint32_t& K, uint32_t& R) {
  uint32_t prefix = 0, mask = 0, need = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    clear_bins(s);
    row.for_each_tile([&](size_t, const float(&v)[V]) {
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const uint32_t key = isfinite(v[j]) ? order_key(v[j]) : 0u;
        add_to_bin(s, key != 0u && (key & mask) == prefix, (key >> shift) & 0xffu, 0, false);
      }
    });
    __syncthreads();
    walk_bins(s.count, need, s);
    __syncthreads();
    prefix |= static_cast<uint32_t>(s.digit) << shift;
    mask |= 0xffu << shift;
    need -= static_cast<uint32_t>(s.above);
  }
  K = prefix;
  R = need;
}

// Narrows (K, R) to the shortest largest-first prefix of the kept tokens whose mass reaches
// `need`; leaves them when the kept mass falls short of it.
template <int V>
__device__ void select_top_p(const Row<V>& row, float max, float temperature, u64 need, Shared& s, uint32_t& K,
                             uint32_t& R) {
  const u64 tie_mass = R > 0 ? fixed_mass(weight(key_value(K), max, temperature)) : 0;
  uint32_t prefix = 0, mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    clear_bins(s);
    row.for_each_tile([&](size_t, const float(&v)[V]) {
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const uint32_t key = isfinite(v[j]) ? order_key(v[j]) : 0u;
        const bool take = key > K && (key & mask) == prefix;
        add_to_bin(s, take, (key >> shift) & 0xffu, take ? fixed_mass(weight(v[j], max, temperature)) : 0, true);
      }
    });
    __syncthreads();
    if (threadIdx.x == 0 && R > 0 && (K & mask) == prefix) {  // the R ties top-k kept
      s.mass[(K >> shift) & 0xffu] += R * tie_mass;
      s.count[(K >> shift) & 0xffu] += R;
    }
    __syncthreads();
    walk_bins(s.mass, need, s);
    __syncthreads();
    if (!s.found) return;  // only possible on the first level: everything kept so far stays
    prefix |= static_cast<uint32_t>(s.digit) << shift;
    mask |= 0xffu << shift;
    need -= s.above;
  }
  const u64 each = fixed_mass(weight(key_value(prefix), max, temperature));
  const uint32_t available = s.count[s.digit];
  const u64 ties = each > 0 ? (need + each - 1) / each : available;
  R = static_cast<uint32_t>(ties < available ? ties : available);
  K = prefix;
  __syncthreads();  // s.count was read above; the next pass clears it
}

// What the draw needs to know of the truncations.
struct Kept {
  float max, temperature, min_p;
  uint32_t K, R;
  bool keep_ties;  // the R ties at K survive min_p
  u64 tie_mass;

  // Whether value v (at tie rank `rank` when its key is K) is kept, and its mass.
  __device__ u64 mass(float v, bool& tie) const {
    tie = false;
    if (!isfinite(v)) return 0;
    const uint32_t key = order_key(v);
    if (key > K) {
      const float w = weight(v, max, temperature);
      return w >= min_p ? fixed_mass(w) : 0;
    }
    tie = key == K;
    return 0;  // ties are counted by the caller, which knows their rank
  }
};

// The draw over the kept tokens in index order; writes ids[row] and returns true, or false when
// nothing is kept.
template <int V>
__device__ bool draw(const Row<V>& row, const Kept& kept, float uniform, Shared& s, int32_t* id) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const size_t per_run = (row.tiles + kRuns - 1) / kRuns;
  for (int i = threadIdx.x; i < kRuns * kWarps; i += kThreads) {
    s.run_mass[i / kWarps][i % kWarps] = 0;
    s.run_ties[i / kWarps][i % kWarps] = 0;
  }
  __syncthreads();
  // Each warp's kept mass (ties aside) and tie count per run of tiles.
  u64 mass = 0;
  uint32_t ties = 0;
  size_t run = 0;
  row.for_each_tile([&](size_t tile, const float(&v)[V]) {
    if (tile / per_run != run) {  // the same in every thread
      mass = warp_sum(mass);
      ties = warp_sum(ties);
      if (lane == 0) {
        s.run_mass[run][warp] = mass;
        s.run_ties[run][warp] = ties;
      }
      mass = 0;
      ties = 0;
      run = tile / per_run;
    }
#pragma unroll
    for (int j = 0; j < V; ++j) {
      bool tie;
      mass += kept.mass(v[j], tie);
      ties += tie ? 1u : 0u;
    }
  });
  mass = warp_sum(mass);
  ties = warp_sum(ties);
  if (lane == 0) {
    s.run_mass[run][warp] = mass;
    s.run_ties[run][warp] = ties;
  }
  __syncthreads();
  // Warp 0, lane r = run r: the ties before it, the ties it keeps, its kept mass; the owning run.
  if (warp == 0) {
    u64 run_mass = 0;
    uint32_t run_ties = 0;
    for (int w = 0; w < kWarps; ++w) {
      run_mass += s.run_mass[lane][w];
      run_ties += s.run_ties[lane][w];
    }
    const uint32_t ties_before = warp_inclusive_scan(run_ties) - run_ties;
    const uint32_t ties_left = kept.R > ties_before ? kept.R - ties_before : 0;
    const uint32_t kept_ties = kept.keep_ties ? (ties_left < run_ties ? ties_left : run_ties) : 0;
    run_mass += kept_ties * kept.tie_mass;
    const u64 through = warp_inclusive_scan(run_mass);
    const u64 total = __shfl_sync(kFullMask, through, 31);
    u64 target = static_cast<u64>(static_cast<double>(uniform) * static_cast<double>(total));
    if (total > 0 && target >= total) target = total - 1;
    const int owner = total > 0 ? __ffs(__ballot_sync(kFullMask, through > target)) - 1 : 0;
    const u64 owner_before = __shfl_sync(kFullMask, through - run_mass, owner);
    const uint32_t owner_ties = __shfl_sync(kFullMask, ties_before, owner);
    if (lane == 0) {
      s.kept_mass = total;
      s.target = target;
      s.owner_run = owner;
      s.running = owner_before;
      s.ties_seen = owner_ties;
    }
  }
  __syncthreads();
  if (s.kept_mass == 0) return false;
  const u64 target = s.target;
  u64 running = s.running;
  uint32_t ties_seen = s.ties_seen;
  const size_t first_tile = static_cast<size_t>(s.owner_run) * per_run;
  const size_t end_tile = first_tile + per_run < row.tiles ? first_tile + per_run : row.tiles;
  for (size_t tile = first_tile; tile < end_tile; ++tile) {
    float v[V];
    row.load(tile, v);
    u64 q[V];
    bool tie[V];
    uint32_t my_ties = 0;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      q[j] = kept.mass(v[j], tie[j]);
      my_ties += tie[j] ? 1u : 0u;
    }
    uint32_t tile_ties;
    uint32_t rank = ties_seen + block_exclusive_scan(my_ties, s.slots_u32, tile_ties);
    u64 my_mass = 0;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      if (tie[j]) q[j] = kept.keep_ties && rank++ < kept.R ? kept.tie_mass : 0;
      my_mass += q[j];
    }
    u64 tile_mass;
    const u64 before = running + block_exclusive_scan(my_mass, s.slots_u64, tile_mass);
    if (running + tile_mass > target) {  // the same in every thread
      if (before <= target && target < before + my_mass) {
        u64 through = before;
#pragma unroll
        for (int j = 0; j < V; ++j) {
          through += q[j];
          if (q[j] > 0 && through > target) {
            *id = static_cast<int32_t>(row.first(tile) + j);
            break;
          }
        }
      }
      return true;
    }
    running += tile_mass;
    ties_seen += tile_ties;
  }
  return true;  // unreachable: the owning run's mass holds the target
}

template <int V>
__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(const float* x_all, const RowSampling* params, int32_t* ids, size_t cols) {
  __shared__ Shared s;
  const size_t row_index = blockIdx.x;
  const Row<V> row(x_all + row_index * cols, cols);
  const RowSampling p = params[row_index];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

  // Pass 0.
  float best = __int_as_float(0x7fffffff);
  int32_t best_index = INT_MAX;
  float max = -INFINITY;
  uint32_t finite = 0;
  bool pos_inf = false;
  row.for_each_tile([&](size_t tile, const float(&v)[V]) {
    const size_t e = row.first(tile);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      if (e + j >= cols) continue;
      if (ranks_before(v[j], static_cast<int32_t>(e + j), best, best_index)) {
        best = v[j];
        best_index = static_cast<int32_t>(e + j);
      }
      if (isfinite(v[j])) {
        max = fmaxf(max, v[j]);
        ++finite;
      }
      pos_inf |= v[j] == INFINITY;
    }
  });
  warp_best(best, best_index);
  if (lane == 0) {
    s.slots_f32[warp] = best;
    s.slots_i32[warp] = best_index;
  }
  __syncthreads();
  best = s.slots_f32[lane];
  best_index = s.slots_i32[lane];
  warp_best(best, best_index);
  __syncthreads();
  max = block_reduce(
      max, [](float a, float b) { return fmaxf(a, b); }, s.slots_f32);
  finite = block_reduce(
      finite, [](uint32_t a, uint32_t b) { return a + b; }, s.slots_u32);
  const bool any_pos_inf = __syncthreads_or(pos_inf);
  const float temperature = p.temperature;
  if (!(temperature > 0.0f) || finite == 0 || any_pos_inf) {
    if (threadIdx.x == 0) ids[row_index] = best_index;
    return;
  }

  // Truncations: kept = key > K, or key == K among the first R.
  uint32_t K = 0, R = 0;
  const float top_k = floorf(p.top_k);
  if (top_k >= 1.0f && top_k < static_cast<float>(finite)) select_top_k(row, static_cast<uint32_t>(top_k), s, K, R);
  if (p.top_p < 1.0f) {
    u64 mine = 0;
    row.for_each_tile([&](size_t, const float(&v)[V]) {
#pragma unroll
      for (int j = 0; j < V; ++j) {
        if (isfinite(v[j])) mine += fixed_mass(weight(v[j], max, temperature));
      }
    });
    const u64 total = block_reduce(
        mine, [](u64 a, u64 b) { return a + b; }, s.slots_u64);
    const double wanted = static_cast<double>(p.top_p > 0.0f ? p.top_p : 0.0f) * static_cast<double>(total);
    const u64 need = wanted < 1.0 ? 1 : static_cast<u64>(wanted);
    select_top_p(row, max, temperature, need, s, K, R);
  }
  Kept kept{max, temperature, p.min_p, K, R, false, 0};
  if (R > 0) {
    const float tie_weight = weight(key_value(K), max, temperature);
    kept.keep_ties = tie_weight >= p.min_p;
    kept.tie_mass = kept.keep_ties ? fixed_mass(tie_weight) : 0;
  }
  int32_t* id = ids + row_index;
  if (!draw(row, kept, p.uniform > 0.0f ? p.uniform : 0.0f, s, id) && threadIdx.x == 0) {
    *id = best_index;  // min_p above 1 or NaN: nothing kept
  }
}

}  // namespace

Status launch_sample_rows(const float* x, const RowSampling* params, int32_t* ids, size_t rows, size_t cols,
                          cudaStream_t stream) {
  if (rows == 0) return ok();
  const bool vectors = cols % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  if (vectors) {
    sample_rows_kernel<4><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, params, ids, cols);
  } else {
    sample_rows_kernel<1><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, params, ids, cols);
  }
  return check_launch("sample_rows", dim3(static_cast<unsigned>(rows)), kThreads);
}

}  // namespace ferrum::cuda
