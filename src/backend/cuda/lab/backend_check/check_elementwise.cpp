// Element-wise, layout and memory checks.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "backend/cuda/device_allocator.h"
#include "backend/cuda/lab/backend_check/check_common.h"

namespace ferrum::cuda_check {
namespace {

double activate(Activation act, double x) {
  switch (act) {
    case Activation::kGeluErf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::kGeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::kGeluQuick: return x / (1 + std::exp(-1.702 * x));
    case Activation::kSilu: return x / (1 + std::exp(-x));
    case Activation::kSigmoid: return 1 / (1 + std::exp(-x));
  }
  return 0;
}

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::kGeluErf: return "gelu_erf";
    case Activation::kGeluTanh: return "gelu_tanh";
    case Activation::kGeluQuick: return "gelu_quick";
    case Activation::kSilu: return "silu";
    case Activation::kSigmoid: return "sigmoid";
  }
  return "?";
}

std::string tag(const char* op, DType dtype, const std::string& extra = "") {
  return std::string(op) + " " + std::string(dtype_name(dtype)) + (extra.empty() ? "" : " " + extra);
}

}  // namespace

void check_memory(Checker& c) {
  // Round trips, bf16/f16 conversion and i32.
  const std::vector<float> values = {1.0f, -2.5f, 3.25f, 1e-3f, 65504.0f, -0.0f, 7.0f};
  const std::vector<float> integers = {1.0f, -2.0f, 3.0f, 0.0f, 65504.0f, -7.0f, 1e6f};
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kI32}) {
    const std::vector<float>& input = dtype == DType::kI32 ? integers : values;
    std::vector<float> stored = dtype == DType::kI32 ? integers : rounded(values, dtype);
    CudaBuffer buffer = upload(c, input, dtype);
    c.expect_close(tag("from_slice/to_vec", dtype), download(c, buffer, values.size()), stored, 0.0);
  }
  c.expect_true("from_slice of 2.5 as i32 is an error", !B::from_slice(values, DType::kI32).has_value());
  CudaBuffer zeros = c.value("alloc", B::alloc(1000, DType::kBF16));
  const std::vector<float> z = download(c, zeros, 1000);
  c.expect_true("alloc is zero-filled", std::all_of(z.begin(), z.end(), [](float v) { return v == 0.0f; }));
  std::vector<uint8_t> raw(4 * 16);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7 + 1);
  CudaBuffer bytes = c.value("from_bytes", B::from_bytes(raw, DType::kF32, 16));
  std::vector<uint8_t> back(raw.size());
  c.status("to_host", B::to_host(bytes, back));
  c.expect_true("from_bytes/to_host round trip", back == raw);
  c.expect_true("to_vec past the end is an error", !B::to_vec(bytes, 17).has_value());

  // Steady state: freeing and re-allocating the same sizes must not reach cudaMalloc.
  for (int i = 0; i < 3; ++i) {
    auto a = B::alloc(12345, DType::kF32);
    auto b = B::alloc(777, DType::kBF16);
  }
  const size_t mallocs_before = cuda::DeviceAllocator::instance().stats().device_mallocs;
  for (int i = 0; i < 100; ++i) {
    auto a = B::alloc(12345, DType::kF32);
    auto b = B::alloc(777, DType::kBF16);
  }
  const size_t mallocs_after = cuda::DeviceAllocator::instance().stats().device_mallocs;
  c.expect_true("caching allocator: no cudaMalloc in steady state", mallocs_after == mallocs_before,
                std::to_string(mallocs_after - mallocs_before) + " new mallocs");
  auto huge = B::alloc(size_t{1} << 42, DType::kF32);
  c.expect_true("out of memory is an error naming the bytes",
                !huge && huge.error().code() == ErrorCode::kOutOfMemory &&
                    huge.error().message().find("bytes") != std::string::npos,
                huge ? "" : huge.error().message());
}

void check_elementwise_ops(Checker& c) {
  CudaContext ctx = B::new_context();
  for (DType dt : kActivationDtypes) {
    const double tol = tolerance(dt);
    for (size_t n : {size_t{1000}, size_t{4099}}) {
      std::vector<float> xr, yr;
      CudaBuffer x = upload(c, random_values(n, 1, -3, 3), dt, &xr);
      CudaBuffer y = upload(c, random_values(n, 2, -3, 3), dt, &yr);
      CudaBuffer out = c.value("alloc", B::alloc(n, dt));
      const std::string size = "n=" + std::to_string(n);

      c.status("add_inplace", B::add_inplace(ctx, y, x, n));
      std::vector<double> ref(n);
      for (size_t i = 0; i < n; ++i) ref[i] = double(xr[i]) + yr[i];
      c.expect_close(tag("add_inplace", dt, size), download(c, y, n), ref, tol);

      for (Activation act : {Activation::kGeluErf, Activation::kGeluTanh, Activation::kGeluQuick, Activation::kSilu,
                             Activation::kSigmoid}) {
        c.status("activation", B::activation(ctx, x, out, n, act));
        for (size_t i = 0; i < n; ++i) ref[i] = activate(act, xr[i]);
        c.expect_close(tag("activation", dt, std::string(activation_name(act)) + " " + size), download(c, out, n), ref,
                       tol);
      }
      c.status("gelu", B::gelu(ctx, x, out, n));
      for (size_t i = 0; i < n; ++i) ref[i] = activate(Activation::kGeluErf, xr[i]);
      c.expect_close(tag("gelu", dt, size), download(c, out, n), ref, tol);

      CudaBuffer s = upload(c, xr, dt);
      c.status("scale", B::scale(ctx, s, n, 0.37f));
      for (size_t i = 0; i < n; ++i) ref[i] = xr[i] * 0.37;
      c.expect_close(tag("scale", dt, size), download(c, s, n), ref, tol);

      CudaBuffer sc = upload(c, xr, dt);
      c.status("softcap", B::softcap(ctx, sc, n, 2.0f));
      for (size_t i = 0; i < n; ++i) ref[i] = 2.0 * std::tanh(xr[i] / 2.0);
      c.expect_close(tag("softcap", dt, size), download(c, sc, n), ref, tol);
    }
    // add_bias over [rows, cols] with a bias of another dtype.
    const size_t rows = 7, cols = 130;
    std::vector<float> dr, br;
    CudaBuffer data = upload(c, random_values(rows * cols, 3), dt, &dr);
    CudaBuffer bias = upload(c, random_values(cols, 4), DType::kBF16, &br);
    c.status("add_bias", B::add_bias(ctx, data, bias, rows, cols));
    std::vector<double> ref(rows * cols);
    for (size_t i = 0; i < rows * cols; ++i) ref[i] = double(dr[i]) + br[i % cols];
    c.expect_close(tag("add_bias", dt, "bias bf16"), download(c, data, rows * cols), ref, tolerance(dt));

    // Gated MLP activations, vector (im % 8 == 0) and scalar paths.
    for (size_t im : {size_t{256}, size_t{100}}) {
      const size_t tokens = 5;
      std::vector<float> gr;
      CudaBuffer gate_up = upload(c, random_values(tokens * 2 * im, 5, -3, 3), dt, &gr);
      CudaBuffer out = c.value("alloc", B::alloc(tokens * im, dt));
      for (Activation act : {Activation::kSilu, Activation::kGeluTanh}) {
        if (act == Activation::kSilu) {
          c.status("fused_silu_mul_split", B::fused_silu_mul_split(ctx, gate_up, out, tokens, im));
        } else {
          c.status("fused_act_mul_split", B::fused_act_mul_split(ctx, gate_up, out, tokens, im, act));
        }
        std::vector<double> r(tokens * im);
        for (size_t t = 0; t < tokens; ++t) {
          for (size_t j = 0; j < im; ++j) r[t * im + j] = activate(act, gr[t * 2 * im + j]) * gr[t * 2 * im + im + j];
        }
        c.expect_close(tag("fused_act_mul_split", dt, std::string(activation_name(act)) + " im=" + std::to_string(im)),
                       download(c, out, tokens * im), r, tol);
      }
    }
  }
  c.status("sync", B::sync(ctx));
}

void check_layout_ops(Checker& c) {
  CudaContext ctx = B::new_context();
  for (DType dt : kActivationDtypes) {
    // split_qkv: q_dim 96, kv_dim 32 (vector path) and odd dims (scalar path).
    for (auto [q_dim, kv_dim] : {std::pair<size_t, size_t>{96, 32}, {30, 5}}) {
      const size_t tokens = 3, row = q_dim + 2 * kv_dim;
      std::vector<float> vr;
      CudaBuffer qkv = upload(c, random_values(tokens * row, 6), dt, &vr);
      CudaBuffer q = c.value("alloc", B::alloc(tokens * q_dim, dt));
      CudaBuffer k = c.value("alloc", B::alloc(tokens * kv_dim, dt));
      CudaBuffer v = c.value("alloc", B::alloc(tokens * kv_dim, dt));
      c.status("split_qkv", B::split_qkv(ctx, qkv, q, k, v, tokens, q_dim, kv_dim));
      std::vector<float> rq, rk, rv;
      for (size_t t = 0; t < tokens; ++t) {
        for (size_t j = 0; j < row; ++j) {
          const float value = vr[t * row + j];
          (j < q_dim ? rq : j < q_dim + kv_dim ? rk : rv).push_back(value);
        }
      }
      const std::string dims = "q_dim=" + std::to_string(q_dim);
      c.expect_close(tag("split_qkv q", dt, dims), download(c, q, rq.size()), rq, 0.0);
      c.expect_close(tag("split_qkv k", dt, dims), download(c, k, rk.size()), rk, 0.0);
      c.expect_close(tag("split_qkv v", dt, dims), download(c, v, rv.size()), rv, 0.0);
    }
    // transpose_head_to_token
    for (size_t dim : {size_t{64}, size_t{7}}) {
      const size_t heads = 3, tokens = 5;
      std::vector<float> sr;
      CudaBuffer src = upload(c, random_values(heads * tokens * dim, 7), dt, &sr);
      CudaBuffer dst = c.value("alloc", B::alloc(heads * tokens * dim, dt));
      c.status("transpose_head_to_token", B::transpose_head_to_token(ctx, src, dst, tokens, heads, dim));
      std::vector<float> ref(heads * tokens * dim);
      for (size_t h = 0; h < heads; ++h) {
        for (size_t t = 0; t < tokens; ++t) {
          for (size_t d = 0; d < dim; ++d) ref[(t * heads + h) * dim + d] = sr[(h * tokens + t) * dim + d];
        }
      }
      c.expect_close(tag("transpose_head_to_token", dt, "dim=" + std::to_string(dim)), download(c, dst, ref.size()),
                     ref, 0.0);
    }
    // kv_cache_append_head_major at rows 5..7 of a capacity-11 cache.
    {
      const size_t nkv = 2, cap = 11, hd = 16, len = 5, fresh = 3;
      std::vector<float> kr, vr, nkr, nvr;
      CudaBuffer ck = upload(c, random_values(nkv * cap * hd, 8), dt, &kr);
      CudaBuffer cv = upload(c, random_values(nkv * cap * hd, 9), dt, &vr);
      CudaBuffer nk = upload(c, random_values(nkv * fresh * hd, 10), dt, &nkr);
      CudaBuffer nv = upload(c, random_values(nkv * fresh * hd, 11), dt, &nvr);
      c.status("kv_cache_append_head_major",
               B::kv_cache_append_head_major(ctx, ck, cv, len, cap, nk, nv, fresh, nkv, hd));
      for (size_t h = 0; h < nkv; ++h) {
        for (size_t t = 0; t < fresh; ++t) {
          for (size_t d = 0; d < hd; ++d) {
            kr[(h * cap + len + t) * hd + d] = nkr[(h * fresh + t) * hd + d];
            vr[(h * cap + len + t) * hd + d] = nvr[(h * fresh + t) * hd + d];
          }
        }
      }
      c.expect_close(tag("kv_cache_append_head_major k", dt), download(c, ck, kr.size()), kr, 0.0);
      c.expect_close(tag("kv_cache_append_head_major v", dt), download(c, cv, vr.size()), vr, 0.0);
      c.expect_true(tag("kv_cache_append_head_major overflow is an error", dt),
                    !B::kv_cache_append_head_major(ctx, ck, cv, 9, cap, nk, nv, fresh, nkv, hd));
    }
    // qk_norm_rope, modes 0 / 1 / 2, head_dim 64 and 6 (odd multiples), pos_offset 3.
    for (size_t hd : {size_t{64}, size_t{6}}) {
      const size_t tokens = 4, heads = 3, pos = 3, half = hd / 2, positions = 16;
      std::vector<float> ir, wr, cr, sr;
      CudaBuffer input = upload(c, random_values(tokens * heads * hd, 12, -2, 2), dt, &ir);
      CudaBuffer norm_w = upload(c, random_values(hd, 13, 0.5f, 1.5f), DType::kBF16, &wr);
      std::vector<float> cos_table(positions * half), sin_table(positions * half);
      for (size_t p = 0; p < positions; ++p) {
        for (size_t d = 0; d < half; ++d) {
          const double angle = p * std::pow(10000.0, -2.0 * d / hd);
          cos_table[p * half + d] = static_cast<float>(std::cos(angle));
          sin_table[p * half + d] = static_cast<float>(std::sin(angle));
        }
      }
      CudaBuffer cos = upload(c, cos_table, DType::kF32, &cr);
      CudaBuffer sin = upload(c, sin_table, DType::kF32, &sr);
      CudaBuffer output = c.value("alloc", B::alloc(tokens * heads * hd, dt));
      for (int mode : {0, 1, 2}) {
        c.status("qk_norm_rope",
                 B::qk_norm_rope(ctx, input, norm_w, cos, sin, output, tokens, heads, hd, pos, 1e-6f, mode));
        std::vector<double> ref(tokens * heads * hd);
        for (size_t t = 0; t < tokens; ++t) {
          for (size_t h = 0; h < heads; ++h) {
            const float* x = &ir[(t * heads + h) * hd];
            std::vector<double> y(x, x + hd);
            if (mode == 1) {
              double ss = 0;
              for (double v : y) ss += v * v;
              const double inv = 1 / std::sqrt(ss / hd + 1e-6);
              for (size_t d = 0; d < hd; ++d) y[d] *= inv * wr[d];
            }
            std::vector<double> z = y;
            if (mode != 0) {
              for (size_t d = 0; d < half; ++d) {
                const double cv = cr[(pos + t) * half + d], sv = sr[(pos + t) * half + d];
                z[d] = y[d] * cv - y[d + half] * sv;
                z[d + half] = y[d + half] * cv + y[d] * sv;
              }
            }
            for (size_t d = 0; d < hd; ++d) ref[(h * tokens + t) * hd + d] = z[d];
          }
        }
        c.expect_close(tag("qk_norm_rope", dt, "mode " + std::to_string(mode) + " hd=" + std::to_string(hd)),
                       download(c, output, ref.size()), ref, tolerance(dt));
      }
    }
    // copy_slice and copy_2d.
    {
      std::vector<float> sr, dr;
      CudaBuffer src = upload(c, random_values(100, 14), dt, &sr);
      CudaBuffer dst = upload(c, random_values(100, 15), dt, &dr);
      c.status("copy_slice", B::copy_slice(ctx, src, 10, dst, 33, 40));
      std::copy(sr.begin() + 10, sr.begin() + 50, dr.begin() + 33);
      c.expect_close(tag("copy_slice", dt), download(c, dst, 100), dr, 0.0);
      c.status("copy_2d", B::copy_2d(ctx, src, 3, 20, dst, 1, 25, 4, 7));
      for (size_t r = 0; r < 4; ++r) {
        for (size_t col = 0; col < 7; ++col) dr[1 + r * 25 + col] = sr[3 + r * 20 + col];
      }
      c.expect_close(tag("copy_2d", dt), download(c, dst, 100), dr, 0.0);
      CudaBuffer global = c.value("alloc", B::alloc(100, dt));
      c.status("all_gather", B::all_gather(ctx, src, global, 100));
      c.expect_close(tag("all_gather (one rank)", dt), download(c, global, 100), sr, 0.0);
    }
    // embedding_lookup from a float table of another dtype.
    {
      const size_t rows = 50, dim = 24;
      std::vector<float> tr;
      CudaBuffer table = upload(c, random_values(rows * dim, 16), DType::kBF16, &tr);
      const std::vector<uint32_t> ids = {3, 0, 49, 3, 17};
      CudaBuffer out = c.value("alloc", B::alloc(ids.size() * dim, dt));
      c.status("embedding_lookup", B::embedding_lookup(ctx, table, ids, out, dim));
      std::vector<float> ref;
      for (uint32_t id : ids) ref.insert(ref.end(), tr.begin() + id * dim, tr.begin() + (id + 1) * dim);
      c.expect_close(tag("embedding_lookup", dt, "table bf16"), download(c, out, ref.size()), ref, 0.0);
      const std::vector<uint32_t> bad = {50};
      c.expect_true(tag("embedding_lookup id out of range is an error", dt),
                    !B::embedding_lookup(ctx, table, bad, out, dim));
    }
  }
  // A mis-sized buffer is reported, naming the op.
  CudaBuffer small = c.value("alloc", B::alloc(10, DType::kF32));
  CudaBuffer w = c.value("alloc", B::alloc(16, DType::kF32));
  const Status s = B::rms_norm(ctx, small, w, 1e-6f, small, 2, 16);
  c.expect_true(
      "shape mismatch is reported",
      !s && s.error().code() == ErrorCode::kShapeMismatch && s.error().message().find("rms_norm") != std::string::npos,
      s ? "" : s.error().message());
  c.status("sync", B::sync(ctx));
}

}  // namespace ferrum::cuda_check
