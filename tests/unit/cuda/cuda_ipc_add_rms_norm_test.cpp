// The IPC all-reduce kernels (kernels/ipc_all_reduce.h) with two ranks on one device: each rank's
// kernel on its own stream, the "peer" buffers plain allocations of the same GPU (what the IPC
// mappings give across GPUs). The fused sum + residual add + RMS norm must equal, to the bit, the
// host's sum in rank order rounded once, then the backend's fused_add_rms_norm; the plain sum
// must equal that sum; and both launch shapes, following each other on the same buffers and
// counters, must keep every call's data apart. A watchdog gives up on a kernel that waits too long
// (the abort flag), so a broken protocol fails instead of hanging. Skips without a CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels/ipc_all_reduce.h"
#include "core/dtype.h"
#include "core/half.h"

namespace ferrum {
namespace {

using B = CudaBackend;
constexpr int kRanks = 2;

bool has_cuda_device() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

template <class T>
T* device_zeroed(size_t count) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, count * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemset(p, 0, count * sizeof(T)), cudaSuccess);
  return static_cast<T*>(p);
}

std::vector<float> bf16_values(std::mt19937& rng, size_t n, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> values(n);
  for (float& value : values) value = to_float(to_bf16(dist(rng)));
  return values;
}

std::vector<uint16_t> bits_of(const B::Buffer& buffer) {
  std::vector<uint16_t> bits(buffer.numel());
  EXPECT_TRUE(B::to_host(buffer, std::span<uint8_t>(reinterpret_cast<uint8_t*>(bits.data()), bits.size() * 2)));
  return bits;
}

B::Buffer upload(const std::vector<float>& values, DType dtype) {
  auto buffer = B::from_slice(values, dtype);
  EXPECT_TRUE(buffer) << buffer.error().to_string();
  return std::move(*buffer);
}

// Two ranks' buffers, counters and streams on device 0, and a host-mapped abort flag.
struct TwoRanks {
  std::array<void*, kRanks> buffers{};
  std::array<uint32_t*, kRanks> counters{};
  std::array<cudaStream_t, kRanks> streams{};
  int* abort = nullptr;
  int calls = 0;

  TwoRanks() {
    for (int r = 0; r < kRanks; ++r) {
      buffers[r] = device_zeroed<uint8_t>(cuda::ipc_buffer_bytes(kRanks));
      EXPECT_TRUE(cuda::launch_ipc_empty(buffers[r], cuda::ipc_buffer_bytes(kRanks), nullptr));
      counters[r] = device_zeroed<uint32_t>(cuda::kIpcMaxBlocks);
      EXPECT_EQ(cudaStreamCreateWithFlags(&streams[r], cudaStreamNonBlocking), cudaSuccess);
    }
    EXPECT_EQ(cudaHostAlloc(reinterpret_cast<void**>(&abort), sizeof(int), cudaHostAllocMapped), cudaSuccess);
    *abort = 0;
  }
  ~TwoRanks() {
    for (int r = 0; r < kRanks; ++r) {
      cudaFree(buffers[r]);
      cudaFree(counters[r]);
      cudaStreamDestroy(streams[r]);
    }
    cudaFreeHost(abort);
  }

  cuda::IpcAllReduceArgs args(int rank, const void* in, void* out, size_t count, DType dtype) const {
    cuda::IpcAllReduceArgs a;
    a.in = in;
    a.out = out;
    a.dtype = dtype;
    a.count = count;
    a.rank = rank;
    a.ranks = kRanks;
    for (int r = 0; r < kRanks; ++r) a.buffers[r] = buffers[r];
    a.counters = counters[rank];
    a.abort = abort;
    return a;
  }

  // Waits for both ranks, giving up on the kernels (abort) after 20 s; false if it had to.
  bool finish() {
    ++calls;
    std::atomic<bool> done{false};
    std::thread watchdog([&] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!done.load() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (!done.load()) *const_cast<volatile int*>(abort) = 1;
    });
    for (cudaStream_t stream : streams) EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    done = true;
    watchdog.join();
    return *abort == 0;
  }
};

// Host sum in rank order from 0.0f, rounded once to bf16 (what both kernels store).
std::vector<float> rank_sum(const std::array<std::vector<float>, kRanks>& parts) {
  std::vector<float> sum(parts[0].size());
  for (size_t i = 0; i < sum.size(); ++i) {
    float total = 0.0f;
    for (const auto& part : parts) total += part[i];
    sum[i] = to_float(to_bf16(total));
  }
  return sum;
}

struct Shape {
  size_t rows, dim;
  bool rounded;
};

TEST(CudaIpcAllReduce, FusedNormAndPlainSumMatchTheOpsTheyReplaceAcrossCalls) {
  if (!has_cuda_device()) GTEST_SKIP() << "no CUDA device";
  TwoRanks ranks;
  std::mt19937 rng(11);
  auto ctx = B::new_context();
  const float eps = 1e-5f;
  // Decode rows of an 8B model, a tiny model's rows past the row loop, odd counts; the rounded
  // output of quantized readers.
  const Shape shapes[] = {{1, 4096, false}, {32, 4096, false}, {3, 64, true},   {300, 64, false},
                          {7, 1024, true},  {5, 8, false},     {1, 4096, true}, {32, 4096, false}};
  for (const Shape& shape : shapes) {
    const std::string what = std::to_string(shape.rows) + "x" + std::to_string(shape.dim) +
                             (shape.rounded ? " rounded" : "") + " call " + std::to_string(ranks.calls + 1);
    const size_t n = shape.rows * shape.dim;
    ASSERT_TRUE(cuda::ipc_add_rms_norm_takes(shape.rows, shape.dim, DType::kBF16)) << what;
    std::array<std::vector<float>, kRanks> parts;
    for (auto& part : parts) part = bf16_values(rng, n, 1.0f);
    // Zeros of both signs: -0.0 is what an empty slot holds, so it must travel as a value.
    for (size_t i = 0; i < n; i += 5) parts[i % kRanks][i] = i % 3 == 0 ? 0.0f : -0.0f;
    for (size_t i = 0; i < n; i += 11) parts[0][i] = parts[1][i] = -0.0f;
    const std::vector<float> residual = bf16_values(rng, n, 4.0f);
    const std::vector<float> weight = bf16_values(rng, shape.dim, 1.0f);
    B::Buffer w = upload(weight, DType::kF32);

    // The ops the fused kernel replaces, on the host's sum.
    B::Buffer sum = upload(rank_sum(parts), DType::kBF16), expected_residual = upload(residual, DType::kBF16);
    auto expected_out = B::alloc(n, DType::kBF16);
    ASSERT_TRUE(expected_out);
    std::optional<B::RoundedRows> expected_rounded;
    if (shape.rounded) {
      auto rounded = B::alloc_rounded_rows(shape.rows, shape.dim);
      ASSERT_TRUE(rounded) << rounded.error().to_string();
      expected_rounded = std::move(*rounded);
      ASSERT_TRUE(B::fused_add_rms_norm_rounded(ctx, expected_residual, sum, w, eps, *expected_out, shape.rows,
                                                shape.dim, *expected_rounded));
    } else {
      ASSERT_TRUE(B::fused_add_rms_norm(ctx, expected_residual, sum, w, eps, *expected_out, shape.rows, shape.dim));
    }
    ASSERT_TRUE(B::sync(ctx));

    std::vector<B::Buffer> xs, residuals, outs;
    std::vector<std::optional<B::RoundedRows>> roundeds(kRanks);
    for (int r = 0; r < kRanks; ++r) {
      xs.push_back(upload(parts[r], DType::kBF16));
      residuals.push_back(upload(residual, DType::kBF16));
      auto out = B::alloc(n, DType::kBF16);
      ASSERT_TRUE(out);
      outs.push_back(std::move(*out));
      if (shape.rounded) {
        auto rounded = B::alloc_rounded_rows(shape.rows, shape.dim);
        ASSERT_TRUE(rounded);
        roundeds[r] = std::move(*rounded);
      }
    }
    for (int r = 0; r < kRanks; ++r) {
      cuda::NormArgs norm;
      norm.x = xs[r].data();
      norm.residual = residuals[r].data();
      norm.weight = w.data();
      norm.act_dtype = DType::kBF16;
      norm.weight_dtype = DType::kF32;
      norm.out = outs[r].data();
      norm.rounded = shape.rounded ? roundeds[r]->bytes.data() : nullptr;
      norm.rows = shape.rows;
      norm.dim = shape.dim;
      norm.eps = eps;
      ASSERT_TRUE(cuda::launch_ipc_all_reduce_add_rms_norm(ranks.args(r, xs[r].data(), nullptr, n, DType::kBF16), norm,
                                                           ranks.streams[r]));
    }
    ASSERT_TRUE(ranks.finish()) << what << ": a rank waited for data that never came";
    for (int r = 0; r < kRanks; ++r) {
      EXPECT_EQ(bits_of(outs[r]), bits_of(*expected_out)) << what << " rank " << r << ": out";
      EXPECT_EQ(bits_of(residuals[r]), bits_of(expected_residual)) << what << " rank " << r << ": residual";
      if (shape.rounded) {
        const size_t bytes = roundeds[r]->bytes.numel();
        std::vector<uint8_t> got(bytes), want(bytes);
        ASSERT_TRUE(B::to_host(roundeds[r]->bytes, got));
        ASSERT_TRUE(B::to_host(expected_rounded->bytes, want));
        EXPECT_EQ(got, want) << what << " rank " << r << ": rounded rows";
      }
    }

    // The plain sum next, on the same buffers (the other launch shape), in place.
    for (auto& part : parts) part = bf16_values(rng, n, 1.0f);
    for (size_t i = 0; i < n; i += 7) parts[1][i] = -0.0f;
    xs.clear();
    for (int r = 0; r < kRanks; ++r) xs.push_back(upload(parts[r], DType::kBF16));
    for (int r = 0; r < kRanks; ++r) {
      ASSERT_TRUE(
          cuda::launch_ipc_all_reduce(ranks.args(r, xs[r].data(), xs[r].data(), n, DType::kBF16), ranks.streams[r]));
    }
    ASSERT_TRUE(ranks.finish()) << what << " plain sum: a rank waited for data that never came";
    B::Buffer plain_sum = upload(rank_sum(parts), DType::kBF16);
    for (int r = 0; r < kRanks; ++r) EXPECT_EQ(bits_of(xs[r]), bits_of(plain_sum)) << what << " plain sum rank " << r;
  }
  // Every value taken was emptied again: the buffers are as they started.
  for (int r = 0; r < kRanks; ++r) {
    std::vector<uint16_t> values(cuda::ipc_buffer_bytes(kRanks) / 2);
    ASSERT_EQ(cudaMemcpy(values.data(), ranks.buffers[r], values.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(std::count(values.begin(), values.end(), uint16_t{0x8000}), static_cast<std::ptrdiff_t>(values.size()))
        << "rank " << r << ": values left in its buffer";
  }
  // Every call advanced each rank's epoch once, in every slot (whatever block count it had).
  for (int r = 0; r < kRanks; ++r) {
    std::vector<uint32_t> counters(cuda::kIpcMaxBlocks);
    ASSERT_EQ(
        cudaMemcpy(counters.data(), ranks.counters[r], counters.size() * sizeof(uint32_t), cudaMemcpyDeviceToHost),
        cudaSuccess);
    EXPECT_EQ(std::count(counters.begin(), counters.end(), static_cast<uint32_t>(ranks.calls)),
              static_cast<std::ptrdiff_t>(counters.size()))
        << "rank " << r;
  }
}

}  // namespace
}  // namespace ferrum
