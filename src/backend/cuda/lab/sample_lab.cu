// sample_rows lab: the device draw of the serving engine's sampled rows, timed beside argmax_rows
// (the greedy pick it replaces for sampled requests) on 128k-vocabulary logits.
//
// Floor: one read of the row, 513 KB, is 0.2 us at 3 TB/s from HBM; the row then sits in L2 and
// each further pass is bound by the loads one SM keeps in flight. What matters is the cost against
// a decode step (8B bf16, ~5.8 ms at one sequence, ~10 ms at 64): the target is well under 1% of it.
// Correctness (ties, boundaries, NaN / inf, frequencies) is the op-test's job
// (tests/op_test/test_sampling.cpp); here greedy rows must match argmax_rows and every version
// must draw exactly v1's ids (all keep exact integer masses, so they agree to the token).
//   v1: one value per thread per step, plain shared-memory atomics (sample_v1.cuh)
//   v2: 16-byte loads two tiles ahead, warp-aggregated histograms, tile-scan draw (shipped)
#include <functional>
#include <string>
#include <utility>

#include "backend/cuda/kernels/reduce.h"
#include "backend/cuda/kernels/sample.h"
#include "backend/cuda/lab/lab_common.cuh"
#include "backend/cuda/lab/sample_v1.cuh"

using ferrum::RowSampling;

int main() {
  lab::print_device_banner("sample_rows lab (f32 logits)");
  constexpr size_t kVocab = 128256;
  struct Mix {
    const char* name;
    RowSampling params;
  };
  const Mix mixes[] = {
      {"greedy (argmax path)", {0.0f, 0, 1.0f, 0.0f, 0.5f}},
      {"T=1 plain", {1.0f, 0, 1.0f, 0.0f, 0.5f}},
      {"T=0.7 top_p=0.9", {0.7f, 0, 0.9f, 0.0f, 0.5f}},
      {"T=0.8 top_k=40 top_p=0.95 min_p=0.05", {0.8f, 40, 0.95f, 0.05f, 0.5f}},
  };
  bool all_ok = true;
  for (size_t rows : {size_t{1}, size_t{16}, size_t{64}, size_t{256}}) {
    float* logits = lab::device_alloc<float>(rows * kVocab);
    lab::fill_uniform(logits, rows * kVocab, 3 + rows, -12.0f, 12.0f);
    int32_t* ids = lab::device_alloc<int32_t>(rows);
    int32_t* greedy = lab::device_alloc<int32_t>(rows);
    RowSampling* params = lab::device_alloc<RowSampling>(rows);
    void* scratch = nullptr;
    if (const size_t bytes = ferrum::cuda::argmax_scratch_bytes(rows, kVocab); bytes > 0) {
      LAB_CHECK(cudaMalloc(&scratch, bytes));
    }
    const auto argmax = [&] {
      if (!ferrum::cuda::launch_argmax_rows(logits, ferrum::DType::kF32, greedy, rows, kVocab, scratch, nullptr)) {
        std::fprintf(stderr, "argmax_rows launch failed\n");
        std::exit(1);
      }
    };
    const double argmax_us = lab::time_us([&](int) { argmax(); });
    std::printf("%-40s rows=%-4zu %9.2f us\n", "argmax_rows (baseline)", rows, argmax_us);
    std::vector<int32_t> expected(rows);
    LAB_CHECK(cudaMemcpy(expected.data(), greedy, rows * sizeof(int32_t), cudaMemcpyDeviceToHost));
    for (const Mix& mix : mixes) {
      std::vector<RowSampling> host(rows, mix.params);
      for (size_t r = 0; r < rows; ++r) host[r].uniform = (static_cast<float>(r) + 0.5f) / static_cast<float>(rows);
      LAB_CHECK(cudaMemcpy(params, host.data(), rows * sizeof(RowSampling), cudaMemcpyHostToDevice));
      const auto v1 = [&] { sample_v1::sample_rows_kernel<<<rows, 1024>>>(logits, params, ids, kVocab); };
      const auto v2 = [&] {
        if (!ferrum::cuda::launch_sample_rows(logits, params, ids, rows, kVocab, nullptr)) {
          std::fprintf(stderr, "sample_rows launch failed\n");
          std::exit(1);
        }
      };
      std::vector<int32_t> reference;
      for (auto [name, launch] : {std::pair<const char*, std::function<void()>>{"v1", v1}, {"v2", v2}}) {
        LAB_CHECK(cudaMemset(ids, 0xff, rows * sizeof(int32_t)));
        launch();
        LAB_LAUNCH_CHECK(name);
        std::vector<int32_t> got(rows);
        LAB_CHECK(cudaMemcpy(got.data(), ids, rows * sizeof(int32_t), cudaMemcpyDeviceToHost));
        if (reference.empty()) reference = got;
        bool ok = got == reference;
        for (size_t r = 0; r < rows; ++r) {
          ok = ok && got[r] >= 0 && static_cast<size_t>(got[r]) < kVocab;
          if (mix.params.temperature == 0.0f) ok = ok && got[r] == expected[r];
        }
        const double us = lab::time_us([&](int) { launch(); });
        std::printf("%s %-38s rows=%-4zu %9.2f us  %6.2fx argmax  %s\n", name, mix.name, rows, us, us / argmax_us,
                    ok ? "ok" : "FAIL");
        all_ok = all_ok && ok;
      }
    }
    LAB_CHECK(cudaFree(logits));
    LAB_CHECK(cudaFree(ids));
    LAB_CHECK(cudaFree(greedy));
    LAB_CHECK(cudaFree(params));
    if (scratch) LAB_CHECK(cudaFree(scratch));
  }
  std::printf("sample_rows lab: %s\n", all_ok ? "versions agree, greedy rows match argmax" : "FAILED");
  return all_ok ? 0 : 1;
}
