// cuBLASLt algorithm lab: how far the heuristic's first pick is from the best algorithm cuBLASLt
// offers for the skinny bf16 GEMMs of batched decode (m = 64 / 32 rows, the 8B's projections and
// one TP=2 rank's). For each shape: every heuristic candidate (up to 64, under the backend's own
// preference: its workspace, split-k sums in f32 only), then the fastest few candidates again with
// each split-k count cuBLASLt accepts. Each is checked against the f64 reference and timed as 40
// calls replayed from one CUDA graph (weights rotated beyond L2), as in a decode step's graph.
#include <cublasLt.h>

#include <map>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/lab/lab_common.cuh"

namespace {

using bf16_t = __nv_bfloat16;
constexpr int kMaxM = 64;
constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // the backend's (cuda_context.cpp)

#define LT_CHECK(call)                                                                                       \
  do {                                                                                                       \
    const cublasStatus_t lt_status_ = (call);                                                                \
    if (lt_status_ != CUBLAS_STATUS_SUCCESS) {                                                               \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cublasLtGetStatusName(lt_status_)); \
      std::exit(1);                                                                                          \
    }                                                                                                        \
  } while (0)

// The descriptors the backend builds (cuda_backend_gemm.cpp): column-major out^T[n, m] = w[n, k]
// (stored k x n, transposed) times x^T[k, m], f32 accumulation.
struct Problem {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;

  Problem(int m, int n, int k) {
    const cublasOperation_t transpose = CUBLAS_OP_T, no_transpose = CUBLAS_OP_N;
    LT_CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    LT_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof transpose));
    LT_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &no_transpose, sizeof no_transpose));
    LT_CHECK(cublasLtMatrixLayoutCreate(&a, CUDA_R_16BF, k, n, k));
    LT_CHECK(cublasLtMatrixLayoutCreate(&b, CUDA_R_16BF, k, m, k));
    LT_CHECK(cublasLtMatrixLayoutCreate(&c, CUDA_R_16BF, n, m, n));
  }
  ~Problem() {
    cublasLtMatmulDescDestroy(desc);
    cublasLtMatrixLayoutDestroy(a);
    cublasLtMatrixLayoutDestroy(b);
    cublasLtMatrixLayoutDestroy(c);
  }
  Problem(const Problem&) = delete;
  Problem& operator=(const Problem&) = delete;
};

template <class T>
T config_value(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attribute) {
  T value{};
  size_t written = 0;
  LT_CHECK(cublasLtMatmulAlgoConfigGetAttribute(&algo, attribute, &value, sizeof value, &written));
  return value;
}

// The configuration fields that tell two candidates apart.
void describe(const cublasLtMatmulAlgo_t& algo, char (&text)[160]) {
  std::snprintf(text, sizeof text, "id %d tile %u stages %u splitk %d red %u swz %u opt %u cluster %u",
                config_value<int>(algo, CUBLASLT_ALGO_CONFIG_ID),
                config_value<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_TILE_ID),
                config_value<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID),
                config_value<int32_t>(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM),
                config_value<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME),
                config_value<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING),
                config_value<uint32_t>(algo, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION),
                unsigned{config_value<uint16_t>(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID)});
}

struct Timed {
  char what[160];
  double us;
  bool correct;
  int rank;  // heuristic rank, -1 for a split-k variant
};

}  // namespace

int main() {
  lab::print_device_banner("cuBLASLt algorithm lab (bf16, m = 64, 32)");
  cublasLtHandle_t lt = nullptr;
  LT_CHECK(cublasLtCreate(&lt));
  void* workspace = lab::device_alloc<char>(kWorkspaceBytes);
  cudaStream_t stream = nullptr;
  LAB_CHECK(cudaStreamCreate(&stream));
  cublasLtMatmulPreference_t preference = nullptr;
  LT_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  LT_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWorkspaceBytes,
                                                sizeof kWorkspaceBytes));
  const uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  LT_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes,
                                                sizeof schemes));
  const int ms[] = {64, 32};
  bool all_ok = true;
  std::vector<std::string> summary;
  for (const lab::DecodeGemmShape& s : lab::kDecodeGemmShapes) {
    const size_t w_elems = size_t{1} * s.n * s.k;
    const lab::DecodeGemmOperands ops(s, kMaxM);
    bf16_t* x = ops.x;
    bf16_t* out = ops.out;
    for (int m : ms) {
      const std::string shape = std::string(s.name) + " m=" + std::to_string(m);
      const std::vector<double> ref = lab::dense_reference(x, ops.weight(0), m, s.n, s.k, ops.ref_scratch);
      const Problem p(m, s.n, s.k);
      cublasLtMatmulHeuristicResult_t found[64] = {};
      int count = 0;
      LT_CHECK(cublasLtMatmulAlgoGetHeuristic(lt, p.desc, p.a, p.b, p.c, p.c, preference, 64, found, &count));
      const auto run = [&](const cublasLtMatmulAlgo_t& algo, size_t ws, int i) {
        const float alpha = 1.0f, beta = 0.0f;
        LT_CHECK(cublasLtMatmul(lt, p.desc, &alpha, ops.weight(i), p.a, x, p.b, &beta, out, p.c, out, p.c, &algo,
                                workspace, ws, stream));
      };
      const auto measure = [&](const cublasLtMatmulAlgo_t& algo, size_t ws, int rank) {
        lab::poison(out, size_t{1} * m * s.n);
        run(algo, ws, 0);
        LAB_CHECK(cudaStreamSynchronize(stream));
        const lab::Error err = lab::compare(lab::download(out, size_t{1} * m * s.n), ref);
        const bool correct = !err.has_nan && err.rel_l2 <= 8e-3;
        const double us = lab::graph_us([&](int i) { run(algo, ws, i); }, stream);
        Timed t{{}, us, correct, rank};
        describe(algo, t.what);
        return t;
      };
      std::vector<Timed> timed;
      std::vector<std::pair<double, int>> by_time;
      for (int r = 0; r < count; ++r) {
        if (found[r].workspaceSize > kWorkspaceBytes) continue;
        timed.push_back(measure(found[r].algo, found[r].workspaceSize, r));
        by_time.emplace_back(timed.back().us, r);
      }
      std::sort(by_time.begin(), by_time.end());
      // The fastest three candidates again, with every split-k count cuBLASLt accepts.
      for (size_t t = 0; t < std::min<size_t>(3, by_time.size()); ++t) {
        for (int32_t splits : {1, 2, 3, 4, 5, 6, 8, 10, 12, 16}) {
          cublasLtMatmulAlgo_t algo = found[by_time[t].second].algo;
          if (config_value<int32_t>(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM) == splits) continue;
          const uint32_t scheme = splits == 1 ? CUBLASLT_REDUCTION_SCHEME_NONE : CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
          LT_CHECK(
              cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits, sizeof splits));
          LT_CHECK(cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme,
                                                        sizeof scheme));
          cublasLtMatmulHeuristicResult_t check{};
          if (cublasLtMatmulAlgoCheck(lt, p.desc, p.a, p.b, p.c, p.c, &algo, &check) != CUBLAS_STATUS_SUCCESS ||
              check.workspaceSize > kWorkspaceBytes) {
            continue;
          }
          timed.push_back(measure(algo, check.workspaceSize, -1));
        }
      }
      const double bytes = 2.0 * w_elems;
      std::vector<size_t> order(timed.size());
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return timed[a].us < timed[b].us; });
      std::printf("\n%s: %d heuristic candidates, %zu timed\n", shape.c_str(), count, timed.size());
      for (size_t i = 0; i < std::min<size_t>(6, order.size()); ++i) {
        const Timed& t = timed[order[i]];
        std::printf("  %8.2f us %7.1f GB/s  rank %3d  %s %s\n", t.us, bytes / t.us / 1e3, t.rank, t.what,
                    t.correct ? "ok" : "FAIL");
      }
      const Timed& first = timed.front();
      std::printf("  %8.2f us %7.1f GB/s  the heuristic's first pick %s\n", first.us, bytes / first.us / 1e3,
                  first.correct ? "ok" : "FAIL");
      for (const Timed& t : timed) all_ok = all_ok && t.correct;
      char line[320];
      const Timed& best = timed[order.front()];
      std::snprintf(line, sizeof line, "%-28s first %7.2f us  best %7.2f us (%.2fx)  rank %d  %s", shape.c_str(),
                    first.us, best.us, first.us / best.us, best.rank, best.what);
      summary.emplace_back(line);
    }
  }
  std::printf("\n== summary (graph replays, us a call)\n");
  for (const std::string& line : summary) std::printf("%s\n", line.c_str());
  std::printf("cublaslt algo lab: %s\n", all_ok ? "all candidates correct" : "SOME CANDIDATES FAILED");
  cublasLtMatmulPreferenceDestroy(preference);
  cublasLtDestroy(lt);
  return all_ok ? 0 : 1;
}
