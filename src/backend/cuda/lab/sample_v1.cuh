// sample_rows v1 (lab only; v2 ships in kernels/sample.cu): one 1024-thread block per row, one
// element per thread per step, plain shared-memory atomics. Measured on the H100 (lab): ~40 us a
// pass (one SM's worth of scalar loads in flight), and top-p 1.6 ms at 128k columns, its 64-bit
// atomics serialised on the few bins uniform-ish logits share.
//  - pass 0: argmax (the greedy and degenerate picks), largest finite logit, finite count;
//  - top-k: radix select of the k-th largest logit over order-preserving 32-bit keys, 8 bits a
//    pass, counting in shared-memory histograms;
//  - top-p: the same select weighted by probability mass, over the tokens top-k kept;
//  - the draw: per-warp kept masses, a scan across warps, and the owning warp walks its segment.
// The kept set is always "key > K, or key == K among the first R such tokens by index", which
// states top-k and top-p with their ties exactly as the host sampler orders them. Masses are fixed
// point (exp((x - max) / T) x 2^40 in 64-bit integers), so sums are exact and the result is the
// same whatever order threads add in.
#pragma once

#include <cfloat>
#include <climits>

#include "backend/backend_types.h"

namespace sample_v1 {

using ferrum::RowSampling;

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kBins = 256;
using u64 = unsigned long long;

__device__ __forceinline__ float weight(float v, float max, float temperature) {
  return expf((v - max) / temperature);
}
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

struct Shared {
  uint32_t count[kBins];
  u64 mass[kBins];
  u64 slots_u64[kWarps];
  uint32_t slots_u32[kWarps];
  float slots_f32[kWarps];
  int32_t slots_i32[kWarps];
  int digit;
  u64 above;
  int found;
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
__device__ void select_top_k(const float* x, size_t cols, uint32_t k, Shared& s, uint32_t& K, uint32_t& R) {
  uint32_t prefix = 0, mask = 0, need = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    clear_bins(s);
    for (size_t c = threadIdx.x; c < cols; c += kThreads) {
      const float v = x[c];
      if (!isfinite(v)) continue;
      const uint32_t key = order_key(v);
      if ((key & mask) == prefix) atomicAdd(&s.count[(key >> shift) & 0xffu], 1u);
    }
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
__device__ void select_top_p(const float* x, size_t cols, float max, float temperature, u64 need, Shared& s,
                             uint32_t& K, uint32_t& R) {
  const u64 tie_mass = R > 0 ? fixed_mass(weight(key_value(K), max, temperature)) : 0;
  uint32_t prefix = 0, mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    clear_bins(s);
    for (size_t c = threadIdx.x; c < cols; c += kThreads) {
      const float v = x[c];
      if (!isfinite(v)) continue;
      const uint32_t key = order_key(v);
      if (key <= K || (key & mask) != prefix) continue;
      const uint32_t bin = (key >> shift) & 0xffu;
      atomicAdd(&s.mass[bin], fixed_mass(weight(v, max, temperature)));
      atomicAdd(&s.count[bin], 1u);
    }
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
  const u64 ties = each > 0 ? (need + each - 1) / each : s.count[s.digit];
  R = static_cast<uint32_t>(ties < s.count[s.digit] ? ties : s.count[s.digit]);
  K = prefix;
  __syncthreads();  // s.count is read above; the caller's next pass may clear it
}

__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(const float* x_all, const RowSampling* params, int32_t* ids, size_t cols) {
  __shared__ Shared s;
  const size_t row = blockIdx.x;
  const float* x = x_all + row * cols;
  const RowSampling p = params[row];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

  // Pass 0.
  float best = __int_as_float(0x7fffffff);
  int32_t best_index = INT_MAX;
  float max = -INFINITY;
  uint32_t finite = 0;
  bool pos_inf = false;
  for (size_t c = threadIdx.x; c < cols; c += kThreads) {
    const float v = x[c];
    if (ranks_before(v, static_cast<int32_t>(c), best, best_index)) {
      best = v;
      best_index = static_cast<int32_t>(c);
    }
    if (isfinite(v)) {
      max = fmaxf(max, v);
      ++finite;
    }
    pos_inf |= v == INFINITY;
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(kFullMask, best, offset);
    const int32_t other_index = __shfl_xor_sync(kFullMask, best_index, offset);
    if (ranks_before(other, other_index, best, best_index)) {
      best = other;
      best_index = other_index;
    }
  }
  if (lane == 0) {
    s.slots_f32[warp] = best;
    s.slots_i32[warp] = best_index;
  }
  __syncthreads();
  best = s.slots_f32[lane];
  best_index = s.slots_i32[lane];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(kFullMask, best, offset);
    const int32_t other_index = __shfl_xor_sync(kFullMask, best_index, offset);
    if (ranks_before(other, other_index, best, best_index)) {
      best = other;
      best_index = other_index;
    }
  }
  __syncthreads();
  max = block_reduce(
      max, [](float a, float b) { return fmaxf(a, b); }, s.slots_f32);
  finite = block_reduce(
      finite, [](uint32_t a, uint32_t b) { return a + b; }, s.slots_u32);
  const bool any_pos_inf = __syncthreads_or(pos_inf);
  const float temperature = p.temperature;
  if (!(temperature > 0.0f) || finite == 0 || any_pos_inf) {
    if (threadIdx.x == 0) ids[row] = best_index;
    return;
  }

  // Truncations: kept = key > K, or key == K among the first R.
  uint32_t K = 0, R = 0;
  const float top_k = floorf(p.top_k);
  if (top_k >= 1.0f && top_k < static_cast<float>(finite)) select_top_k(x, cols, static_cast<uint32_t>(top_k), s, K, R);
  if (p.top_p < 1.0f) {
    u64 mine = 0;
    for (size_t c = threadIdx.x; c < cols; c += kThreads) {
      const float v = x[c];
      if (isfinite(v)) mine += fixed_mass(weight(v, max, temperature));
    }
    const u64 total = block_reduce(
        mine, [](u64 a, u64 b) { return a + b; }, s.slots_u64);
    const double wanted = static_cast<double>(p.top_p > 0.0f ? p.top_p : 0.0f) * static_cast<double>(total);
    const u64 need = wanted < 1.0 ? 1 : static_cast<u64>(wanted);
    select_top_p(x, cols, max, temperature, need, s, K, R);
  }
  const float min_p = p.min_p;
  const float tie_weight = R > 0 ? weight(key_value(K), max, temperature) : 0.0f;
  const bool keep_ties = R > 0 && tie_weight >= min_p;
  const u64 tie_mass = keep_ties ? fixed_mass(tie_weight) : 0;

  // The draw: each warp's kept mass and ties over its segment of the row.
  const size_t segment = ((cols + kWarps - 1) / kWarps + 31) / 32 * 32;
  const size_t begin = warp * segment, end = begin + segment < cols ? begin + segment : cols;
  u64 warp_mass = 0;
  uint32_t warp_ties = 0;
  for (size_t c = begin + lane; c < end; c += 32) {
    const float v = x[c];
    if (!isfinite(v)) continue;
    const uint32_t key = order_key(v);
    if (key > K) {
      const float w = weight(v, max, temperature);
      if (w >= min_p) warp_mass += fixed_mass(w);
    } else if (key == K) {
      ++warp_ties;
    }
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    warp_mass += __shfl_xor_sync(kFullMask, warp_mass, offset);
    warp_ties += __shfl_xor_sync(kFullMask, warp_ties, offset);
  }
  if (lane == 0) {
    s.slots_u64[warp] = warp_mass;
    s.slots_u32[warp] = warp_ties;
  }
  __syncthreads();
  // Lane l of every warp holds warp l's figures: ties before it, the ties it keeps, its mass.
  const uint32_t ties_l = s.slots_u32[lane];
  const uint32_t ties_before = warp_inclusive_scan(ties_l) - ties_l;
  const uint32_t ties_left = R > ties_before ? R - ties_before : 0;
  const uint32_t kept_ties = keep_ties ? (ties_left < ties_l ? ties_left : ties_l) : 0;
  const u64 mass_l = s.slots_u64[lane] + kept_ties * tie_mass;
  const u64 mass_through = warp_inclusive_scan(mass_l);
  const u64 kept_mass = __shfl_sync(kFullMask, mass_through, 31);
  if (kept_mass == 0) {  // min_p above 1 or NaN: nothing kept
    if (threadIdx.x == 0) ids[row] = best_index;
    return;
  }
  const float uniform = p.uniform > 0.0f ? p.uniform : 0.0f;
  u64 target = static_cast<u64>(static_cast<double>(uniform) * static_cast<double>(kept_mass));
  if (target >= kept_mass) target = kept_mass - 1;
  const int owner = __ffs(__ballot_sync(kFullMask, mass_through > target)) - 1;
  if (warp != owner) return;

  u64 running = __shfl_sync(kFullMask, mass_through - mass_l, owner);
  uint32_t ties_seen = __shfl_sync(kFullMask, ties_before, owner);
  const unsigned lanes_below = (1u << lane) - 1u;
  for (size_t first = begin; first < end; first += 32) {
    const size_t c = first + lane;
    const float v = c < end ? x[c] : -INFINITY;
    const bool is_finite = isfinite(v);
    const uint32_t key = is_finite ? order_key(v) : 0u;
    const bool tie = is_finite && key == K;
    const unsigned tie_lanes = __ballot_sync(kFullMask, tie);
    const uint32_t rank = ties_seen + __popc(tie_lanes & lanes_below);
    const float w = is_finite ? weight(v, max, temperature) : 0.0f;
    const bool kept = is_finite && ((key > K && w >= min_p) || (tie && keep_ties && rank < R));
    const u64 through = running + warp_inclusive_scan(kept ? fixed_mass(w) : u64{0});
    const unsigned hit = __ballot_sync(kFullMask, kept && through > target);
    if (hit != 0) {
      if (lane == __ffs(hit) - 1) ids[row] = static_cast<int32_t>(c);
      return;
    }
    running = __shfl_sync(kFullMask, through, 31);
    ties_seen += __popc(tie_lanes);
  }
  if (lane == 0) ids[row] = best_index;  // unreachable: the owner's mass holds the target
}

}  // namespace sample_v1
