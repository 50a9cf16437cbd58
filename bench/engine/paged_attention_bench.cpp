// ferrum-paged-attention-bench: decode attention over the engine's paged cache against the same
// attention over contiguous per-sequence caches (flash_attention with batch = sequences), for
// Llama 3.1 8B's heads (32 query, 8 KV, head_dim 128; `--kv-heads 4` is one tensor-parallel rank's
// 16 / 4) and a bf16 cache. Reports each one's time per call (the median over 30 samples of 20
// calls queued back to back and synchronised once, so short calls are not hidden behind the
// launch and the sync), the K / V bytes read per call over that time (GB/s), and the largest
// difference between the two outputs (both read the same values).
//
//   ferrum-paged-attention-bench [--device cpu|cuda] [--seqs 16,64] [--contexts 256,1024,4096] [--kv-heads 8]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#ifdef FERRUM_HAS_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace ferrum::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kGroup = 4, kHeadDim = 128, kBlockSize = 16;

std::vector<size_t> parse_list(const char* text) {
  std::vector<size_t> values;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) values.push_back(std::strtoull(item.c_str(), nullptr, 10));
  return values;
}

// `launch` queues one call, `sync` waits for the queue; ms per call.
template <class Launch, class Sync>
double median_ms(Launch&& launch, Sync&& sync, size_t samples = 30, size_t calls = 20) {
  std::vector<double> times;
  for (size_t i = 0; i < samples + 3; ++i) {
    const auto start = Clock::now();
    for (size_t c = 0; c < calls; ++c) {
      if (!launch()) return NAN;
    }
    if (!sync()) return NAN;
    if (i >= 3) times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count() / calls);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

#define BENCH_TRY(expr)                                                                   \
  do {                                                                                    \
    const auto& bench_status_ = (expr);                                                   \
    if (!bench_status_) {                                                                 \
      std::fprintf(stderr, "%s: %s\n", #expr, bench_status_.error().to_string().c_str()); \
      return false;                                                                       \
    }                                                                                     \
  } while (false)

// One (sequences, context) point: decode, every sequence at the same context length.
template <Backend B>
bool run_point(size_t seqs, size_t context, size_t kv_heads) {
  const size_t heads = kGroup * kv_heads;
  using Buffer = typename B::Buffer;
  const size_t blocks_per_seq = (context + kBlockSize - 1) / kBlockSize;
  const size_t num_blocks = seqs * blocks_per_seq;
  std::mt19937_64 rng(seqs * 131 + context);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const auto random = [&](size_t n) {
    std::vector<float> values(n);
    for (float& v : values) v = uniform(rng);
    return values;
  };
  // Contiguous caches [seqs, kv_heads, context, hd] and the same rows scattered over shuffled blocks.
  const std::vector<float> k = random(seqs * kv_heads * context * kHeadDim);
  const std::vector<float> v = random(k.size());
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  const size_t pool_numel = num_blocks * kv_heads * kBlockSize * kHeadDim;
  std::vector<float> k_pool(pool_numel);
  std::vector<float> v_pool(pool_numel);
  std::vector<float> tables(seqs * blocks_per_seq), query_start(seqs + 1), context_lens(seqs);
  for (size_t s = 0; s < seqs; ++s) {
    query_start[s + 1] = static_cast<float>(s + 1);
    context_lens[s] = static_cast<float>(context);
    for (size_t b = 0; b < blocks_per_seq; ++b)
      tables[s * blocks_per_seq + b] = static_cast<float>(ids[s * blocks_per_seq + b]);
    for (size_t h = 0; h < kv_heads; ++h) {
      for (size_t j = 0; j < context; ++j) {
        const size_t block = static_cast<size_t>(ids[s * blocks_per_seq + j / kBlockSize]);
        const size_t src = ((s * kv_heads + h) * context + j) * kHeadDim;
        const size_t dst = ((block * kv_heads + h) * kBlockSize + j % kBlockSize) * kHeadDim;
        std::copy_n(k.begin() + static_cast<ptrdiff_t>(src), kHeadDim, k_pool.begin() + static_cast<ptrdiff_t>(dst));
        std::copy_n(v.begin() + static_cast<ptrdiff_t>(src), kHeadDim, v_pool.begin() + static_cast<ptrdiff_t>(dst));
      }
    }
  }
  const DType act = B::kActivationDType;
  // The same query of (sequence s, head h) in both layouts: [seqs, heads, 1, hd] for the batched
  // contiguous call, [heads, tokens, hd] for the paged one.
  const std::vector<float> q = random(seqs * heads * kHeadDim);
  std::vector<float> q_heads_first(q.size());
  for (size_t s = 0; s < seqs; ++s) {
    for (size_t h = 0; h < heads; ++h) {
      std::copy_n(q.begin() + static_cast<ptrdiff_t>((s * heads + h) * kHeadDim), kHeadDim,
                  q_heads_first.begin() + static_cast<ptrdiff_t>((h * seqs + s) * kHeadDim));
    }
  }
  auto ctx = B::new_context();
  Expected<Buffer> q_dense = B::from_slice(q, act), q_paged = B::from_slice(q_heads_first, act),
                   out_dense = B::alloc(q.size(), act), out_paged = B::alloc(q.size(), act),
                   k_dense = B::from_slice(k, DType::kBF16), v_dense = B::from_slice(v, DType::kBF16),
                   k_paged = B::from_slice(k_pool, DType::kBF16), v_paged = B::from_slice(v_pool, DType::kBF16),
                   table_buffer = B::from_slice(tables, DType::kI32),
                   start_buffer = B::from_slice(query_start, DType::kI32),
                   context_buffer = B::from_slice(context_lens, DType::kI32);
  for (auto* buffer : {&q_dense, &q_paged, &out_dense, &out_paged, &k_dense, &v_dense, &k_paged, &v_paged,
                       &table_buffer, &start_buffer, &context_buffer}) {
    BENCH_TRY(*buffer);
  }
  AttnConfig cfg{heads, kv_heads, kHeadDim, true, 1.0f / std::sqrt(static_cast<float>(kHeadDim)), 0, 0};
  const auto dense = [&]() -> bool {
    BENCH_TRY(B::flash_attention(ctx, *q_dense, *k_dense, *v_dense, *out_dense, seqs, 1, context, context - 1, cfg));
    return true;
  };
  const auto sync = [&]() -> bool {
    BENCH_TRY(B::sync(ctx));
    return true;
  };
  PagedAttnBatch<Buffer> batch{
      &*start_buffer, &*context_buffer, &*table_buffer, seqs, seqs, blocks_per_seq, kBlockSize, 1, context};
  const auto paged = [&]() -> bool {
    BENCH_TRY(B::paged_attention(ctx, *q_paged, *k_paged, *v_paged, *out_paged, batch, cfg));
    return true;
  };
  const double dense_ms = median_ms(dense, sync);
  const double paged_ms = median_ms(paged, sync);
  if (std::isnan(dense_ms) || std::isnan(paged_ms)) return false;
  auto dense_out = B::to_vec(*out_dense, q.size());
  auto paged_out = B::to_vec(*out_paged, q.size());
  BENCH_TRY(dense_out);
  BENCH_TRY(paged_out);
  double worst = 0;
  for (size_t s = 0; s < seqs; ++s) {
    for (size_t h = 0; h < heads; ++h) {
      for (size_t d = 0; d < kHeadDim; ++d) {
        worst = std::max(worst, std::fabs(static_cast<double>((*dense_out)[(s * heads + h) * kHeadDim + d]) -
                                          (*paged_out)[(h * seqs + s) * kHeadDim + d]));
      }
    }
  }
  const double kv_gb = 2.0 * static_cast<double>(seqs * kv_heads * context * kHeadDim) * 2.0 / 1e9;
  std::printf(
      "seqs %3zu  context %5zu | contiguous %8.3f ms %7.1f GB/s | paged %8.3f ms %7.1f GB/s | paged/contiguous "
      "%.2f | max |diff| %.2e\n",
      seqs, context, dense_ms, kv_gb / (dense_ms / 1e3), paged_ms, kv_gb / (paged_ms / 1e3), paged_ms / dense_ms,
      worst);
  return true;
}

template <Backend B>
int run_all(const std::vector<size_t>& seqs, const std::vector<size_t>& contexts, size_t kv_heads) {
  int status = 0;
  for (size_t s : seqs) {
    for (size_t c : contexts) status |= run_point<B>(s, c, kv_heads) ? 0 : 1;
  }
  return status;
}

}  // namespace
}  // namespace ferrum::bench

int main(int argc, char** argv) {
  std::string device = "cpu";
  std::vector<size_t> seqs = {16, 64};
  std::vector<size_t> contexts = {256, 1024, 4096};
  size_t kv_heads = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--device") {
      device = argv[i + 1];
    } else if (arg == "--seqs") {
      seqs = ferrum::bench::parse_list(argv[i + 1]);
    } else if (arg == "--contexts") {
      contexts = ferrum::bench::parse_list(argv[i + 1]);
    } else if (arg == "--kv-heads") {
      kv_heads = std::strtoull(argv[i + 1], nullptr, 10);
      if (kv_heads == 0) {
        std::fprintf(stderr, "--kv-heads must be at least 1\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (device == "cpu") return ferrum::bench::run_all<ferrum::CpuBackend>(seqs, contexts, kv_heads);
#ifdef FERRUM_HAS_CUDA
  if (device == "cuda") return ferrum::bench::run_all<ferrum::CudaBackend>(seqs, contexts, kv_heads);
#endif
  std::fprintf(stderr, "device %s is not in this build\n", device.c_str());
  return 2;
}
