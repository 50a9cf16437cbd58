// GEMM checks: dense (GEMV and cuBLASLt paths, mixed dtypes), GGUF against ggml's own dequantized
// fixture values, GPTQ / AWQ against the fixture layers (references no one here wrote).
#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "backend/cuda/lab/backend_check/check_common.h"

namespace ferrum::cuda_check {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::vector<float> as_floats(const std::vector<uint8_t>& bytes) {
  std::vector<float> values(bytes.size() / 4);
  std::memcpy(values.data(), bytes.data(), values.size() * 4);
  return values;
}

// A minimal safetensors reader: name -> (dtype string, raw bytes).
struct Tensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
std::map<std::string, Tensor> read_safetensors(const std::string& path) {
  const std::vector<uint8_t> file = read_file(path);
  std::map<std::string, Tensor> tensors;
  if (file.size() < 8) return tensors;
  uint64_t header_len = 0;
  std::memcpy(&header_len, file.data(), 8);
  const nlohmann::json header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + header_len);
  const size_t data_start = 8 + header_len;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    Tensor t;
    t.dtype = info["dtype"];
    t.shape = info["shape"].get<std::vector<int64_t>>();
    const size_t begin = info["data_offsets"][0], end = info["data_offsets"][1];
    t.bytes.assign(file.begin() + data_start + begin, file.begin() + data_start + end);
    tensors[name] = std::move(t);
  }
  return tensors;
}

std::vector<float> f16_to_floats(const std::vector<uint8_t>& bytes) {
  std::vector<float> values(bytes.size() / 2);
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t bits;
    std::memcpy(&bits, bytes.data() + 2 * i, 2);
    values[i] = to_float(f16{bits});
  }
  return values;
}

std::vector<double> matmul_ref(const std::vector<float>& a, const std::vector<float>& w, size_t m, size_t n, size_t k) {
  std::vector<double> out(m * n);
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      double acc = 0;
      for (size_t c = 0; c < k; ++c) acc += double(a[i * k + c]) * w[j * k + c];
      out[i * n + j] = acc;
    }
  }
  return out;
}

void check_dense(Checker& c) {
  CudaContext ctx = B::new_context();
  struct Case {
    size_t m, n, k;
  };
  // m <= 8 runs the GEMV kernel (k % 8 == 0 vector path, else scalar); m > 8 runs cuBLASLt.
  for (Case s : {Case{1, 300, 264}, Case{3, 77, 1000}, Case{8, 64, 13}, Case{37, 96, 200}, Case{130, 257, 64}}) {
    for (DType a_dt : kActivationDtypes) {
      for (DType w_dt : {DType::kF32, DType::kBF16, DType::kF16}) {
        for (DType out_dt : {a_dt, DType::kF32}) {
          std::vector<float> ar, wr;
          CudaBuffer a = upload(c, random_values(s.m * s.k, 40, -1, 1), a_dt, &ar);
          CudaBuffer w = upload(c, random_values(s.n * s.k, 41, -1, 1), w_dt, &wr);
          CudaBuffer out = c.value("alloc", B::alloc(s.m * s.n, out_dt));
          c.status("gemm", B::gemm(ctx, a, w, out, s.m, s.n, s.k));
          // The loosest dtype on the path sets the tolerance (cuBLASLt rounds a to w's dtype).
          double tol = std::max({tolerance(a_dt), tolerance(w_dt), tolerance(out_dt)});
          if (s.m > 8) tol = std::max(tol, tolerance(w_dt));
          const std::string name = "gemm m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
                                   " k=" + std::to_string(s.k) + " a " + std::string(dtype_name(a_dt)) + " w " +
                                   std::string(dtype_name(w_dt)) + " out " + std::string(dtype_name(out_dt));
          c.expect_close(name, download(c, out, s.m * s.n), matmul_ref(ar, wr, s.m, s.n, s.k), tol);
        }
      }
    }
  }
  c.status("sync", B::sync(ctx));
}

// x rounded to int8 per 32 values as the fused GGUF GEMV (Q8_0 / Q4_K / Q6_K, m <= 8) rounds it:
// scale = max |x| / 127 (1 for zeros), q = round-half-even(x / scale). Its result is the dense
// product with these activations.
std::vector<float> round_to_int8_groups(const std::vector<float>& x) {
  std::vector<float> rounded(x.size());
  for (size_t group = 0; group < x.size(); group += 32) {
    float amax = 0.0f;
    for (size_t i = group; i < group + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
    for (size_t i = group; i < group + 32; ++i) rounded[i] = std::nearbyint(x[i] / scale) * scale;
  }
  return rounded;
}

void check_gguf(Checker& c, const std::string& dir) {
  CudaContext ctx = B::new_context();
  const std::vector<std::pair<const char*, GgufQuantType>> types = {
      {"Q4_0", GgufQuantType::kQ4_0}, {"Q4_1", GgufQuantType::kQ4_1}, {"Q5_0", GgufQuantType::kQ5_0},
      {"Q5_1", GgufQuantType::kQ5_1}, {"Q8_0", GgufQuantType::kQ8_0}, {"Q2_K", GgufQuantType::kQ2_K},
      {"Q3_K", GgufQuantType::kQ3_K}, {"Q4_K", GgufQuantType::kQ4_K}, {"Q5_K", GgufQuantType::kQ5_K},
      {"Q6_K", GgufQuantType::kQ6_K}};
  const size_t rows = 4, cols = 512;
  for (const auto& [name, type] : types) {
    const std::vector<uint8_t> blocks = read_file(dir + "/gguf/" + name + ".bin");
    const std::vector<float> expected = as_floats(read_file(dir + "/gguf/" + name + ".expected.f32"));
    if (blocks.empty() || expected.size() != rows * cols) {
      c.expect_true(std::string("gguf fixture ") + name, false, "missing under " + dir + "/gguf");
      continue;
    }
    const DType dtype = gguf_quant_dtype(type);
    CudaBuffer q = c.value("from_bytes", B::from_bytes(blocks, dtype, rows * cols));
    // Bit-exact: ggml's own dequantization is the reference.
    c.expect_close(std::string("to_vec dequantize ") + name + " vs ggml", download(c, q, rows * cols), expected, 0.0);
    for (DType a_dt : kActivationDtypes) {
      for (size_t m : {size_t{2}, size_t{11}}) {
        std::vector<float> ar;
        CudaBuffer a = upload(c, random_values(m * cols, 42), a_dt, &ar);
        CudaBuffer out = c.value("alloc", B::alloc(m * rows, DType::kF32));
        QuantWeights<CudaBuffer> weights;
        weights.qweight = &q;
        c.status("gemm_quant", B::gemm_quant(ctx, a, weights, out, m, rows, cols, GgufQuant{type}));
        const bool int8_x =
            (type == GgufQuantType::kQ8_0 || type == GgufQuantType::kQ4_K || type == GgufQuantType::kQ6_K) && m <= 8;
        c.expect_close(std::string("gemm_quant ") + name + " a " + std::string(dtype_name(a_dt)) +
                           " m=" + std::to_string(m) + (int8_x ? " (x rounded to int8)" : ""),
                       download(c, out, m * rows),
                       matmul_ref(int8_x ? round_to_int8_groups(ar) : ar, expected, m, rows, cols), tolerance(a_dt));
      }
    }
    CudaBuffer emb = c.value("alloc", B::alloc(2 * cols, DType::kF32));
    const std::vector<uint32_t> ids = {3, 1};
    c.status("embedding_lookup gguf", B::embedding_lookup(ctx, q, ids, emb, cols));
    std::vector<float> ref(expected.begin() + 3 * cols, expected.begin() + 4 * cols);
    ref.insert(ref.end(), expected.begin() + cols, expected.begin() + 2 * cols);
    c.expect_close(std::string("embedding_lookup ") + name + " table", download(c, emb, 2 * cols), ref, 0.0);
  }
  c.status("sync", B::sync(ctx));
}

std::vector<int32_t> as_ints(const std::vector<uint8_t>& bytes) {
  std::vector<int32_t> values(bytes.size() / 4);
  std::memcpy(values.data(), bytes.data(), values.size() * 4);
  return values;
}

void check_gptq_awq(Checker& c, const std::string& dir) {
  CudaContext ctx = B::new_context();
  struct Case {
    const char* file;
    bool awq;
    uint32_t bits;
    size_t group;  // 0 = per channel
    bool desc_act;
  };
  const Case cases[] = {{"gptq/gptq_4bit_g128_sym.safetensors", false, 4, 128, false},
                        {"gptq/gptq_4bit_g32_asym.safetensors", false, 4, 32, false},
                        {"gptq/gptq_4bit_g128_sym_desc_act.safetensors", false, 4, 128, true},
                        {"gptq/gptq_8bit_g128_sym.safetensors", false, 8, 128, false},
                        {"gptq/gptq_4bit_perchannel_sym.safetensors", false, 4, 0, false},
                        {"gptq/gptq_4bit_g32_asym_desc_act.safetensors", false, 4, 32, true},
                        {"awq/awq_4bit_g128.safetensors", true, 4, 128, false},
                        {"awq/awq_4bit_g64.safetensors", true, 4, 64, false}};
  const size_t k = 256, n = 128, m = 3;
  for (const Case& cs : cases) {
    auto t = read_safetensors(dir + "/" + cs.file);
    if (t.empty()) {
      c.expect_true(std::string("fixture ") + cs.file, false, "missing");
      continue;
    }
    const std::vector<float> x = as_floats(t["x"].bytes);
    const std::vector<float> y_ref = as_floats(t["y_ref"].bytes);
    const std::vector<float> w_ref = as_floats(t["w_ref"].bytes);
    const std::vector<int32_t> qweight = as_ints(t["qweight"].bytes);
    const std::vector<int32_t> qzeros = as_ints(t["qzeros"].bytes);
    const std::vector<float> scales = f16_to_floats(t["scales"].bytes);
    CudaBuffer xb = upload(c, x, DType::kF32);
    CudaBuffer qw = c.value("from_slice", B::from_bytes(t["qweight"].bytes, DType::kI32, qweight.size()));
    CudaBuffer qz = c.value("from_slice", B::from_bytes(t["qzeros"].bytes, DType::kI32, qzeros.size()));
    CudaBuffer sc = c.value("from_bytes", B::from_bytes(t["scales"].bytes, DType::kF16, scales.size()));
    CudaBuffer gi;
    QuantWeights<CudaBuffer> weights{&qw, &sc, &qz, nullptr};
    if (!cs.awq) {
      gi = c.value("from_bytes", B::from_bytes(t["g_idx"].bytes, DType::kI32, k));
      weights.g_idx = &gi;
    }
    const QuantKind kind =
        cs.awq ? QuantKind{AwqQuant{cs.bits, cs.group}} : QuantKind{GptqQuant{cs.bits, cs.group, cs.desc_act}};
    // f32 activations: the dense weight is exact in f32, so only summation order differs (~1e-6).
    CudaBuffer out = c.value("alloc", B::alloc(m * n, DType::kF32));
    c.status("gemm_quant", B::gemm_quant(ctx, xb, weights, out, m, n, k, kind));
    c.expect_close(std::string("gemm_quant ") + cs.file + " f32 vs y_ref", download(c, out, m * n), y_ref, 2e-5);
    // bf16 activations (m = 11 reaches cuBLASLt): bf16 rounding of x and of the dense weight.
    const size_t m_big = 11;
    std::vector<float> x_big = random_values(m_big * k, 43), x_big_r;
    CudaBuffer xb16 = upload(c, x_big, DType::kBF16, &x_big_r);
    CudaBuffer out_big = c.value("alloc", B::alloc(m_big * n, DType::kBF16));
    c.status("gemm_quant", B::gemm_quant(ctx, xb16, weights, out_big, m_big, n, k, kind));
    c.expect_close(std::string("gemm_quant ") + cs.file + " bf16 m=11", download(c, out_big, m_big * n),
                   matmul_ref(x_big_r, w_ref, m_big, n, k), tolerance(DType::kBF16));
    if (!cs.awq) {
      std::optional<std::span<const int32_t>> g_idx;
      const std::vector<int32_t> g = as_ints(t["g_idx"].bytes);
      if (cs.desc_act) g_idx = std::span<const int32_t>(g);
      CudaGptqStore store = c.value("load_gptq", B::load_gptq(qweight, scales, qzeros, g_idx, cs.bits, cs.group, k, n));
      c.status("gemm_gptq", B::gemm_gptq(ctx, xb, store, out, m));
      // The store is bf16: 2^-9 relative per weight.
      c.expect_close(std::string("load_gptq + gemm_gptq ") + cs.file, download(c, out, m * n), y_ref,
                     tolerance(DType::kBF16));
    }
  }
  c.status("sync", B::sync(ctx));
}

}  // namespace

void check_gemm_ops(Checker& c, const std::string& fixtures) {
  check_dense(c);
  check_gguf(c, fixtures);
  check_gptq_awq(c, fixtures);
}

}  // namespace ferrum::cuda_check
