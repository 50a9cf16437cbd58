// Attention checks: flash_attention over decode / prefill / chunked / windowed / GQA / odd head
// dims (both CUDA kernels), and MLA.
#include "backend/cuda/lab/backend_check/check_common.h"

namespace ferrum::cuda_check {
namespace {

struct Problem {
  size_t batch, heads, kv_heads, q_len, kv_len, stride, pos_offset, d1, d2, dv;
  bool causal;
  size_t window;
};

// q [B, H, Lq, d1 + d2]; k1 [B, Hkv, S, d1]; k2 [B, Hkv, S, d2]; v [B, Hkv, S, dv].
std::vector<double> reference(const Problem& p, float scale, const std::vector<float>& q, const std::vector<float>& k1,
                              const std::vector<float>& k2, const std::vector<float>& v) {
  const size_t dk = p.d1 + p.d2, group = p.heads / p.kv_heads;
  std::vector<double> out(p.batch * p.heads * p.q_len * p.dv, 0.0);
  for (size_t b = 0; b < p.batch; ++b) {
    for (size_t h = 0; h < p.heads; ++h) {
      const size_t base = (b * p.kv_heads + h / group) * p.stride;
      for (size_t i = 0; i < p.q_len; ++i) {
        const size_t pos = p.pos_offset + i, row = (b * p.heads + h) * p.q_len + i;
        std::vector<double> scores(p.kv_len, -INFINITY);
        double mx = -INFINITY;
        for (size_t j = 0; j < p.kv_len; ++j) {
          if (p.causal && j > pos) continue;
          if (p.window > 0 && j + p.window <= pos) continue;
          double s = 0;
          for (size_t d = 0; d < p.d1; ++d) s += double(q[row * dk + d]) * k1[(base + j) * p.d1 + d];
          for (size_t d = 0; d < p.d2; ++d) s += double(q[row * dk + p.d1 + d]) * k2[(base + j) * p.d2 + d];
          scores[j] = s * scale;
          mx = std::max(mx, scores[j]);
        }
        double total = 0;
        for (size_t j = 0; j < p.kv_len; ++j) {
          if (scores[j] == -INFINITY) continue;
          const double e = std::exp(scores[j] - mx);
          total += e;
          for (size_t d = 0; d < p.dv; ++d) out[row * p.dv + d] += e * v[(base + j) * p.dv + d];
        }
        for (size_t d = 0; d < p.dv; ++d) out[row * p.dv + d] = total > 0 ? out[row * p.dv + d] / total : 0.0;
      }
    }
  }
  return out;
}

std::string describe(const char* op, DType dt, const Problem& p) {
  // cat() rather than string +: GCC 12 warns falsely (-Wrestrict) on long + chains.
  return cat(op, " ", dtype_name(dt), " b", p.batch, " h", p.heads, "/", p.kv_heads, " d", p.d1,
             p.d2 ? cat("+", p.d2) : "", " q", p.q_len, " kv", p.kv_len, p.stride != p.kv_len ? cat("/", p.stride) : "",
             " pos", p.pos_offset, p.causal ? " causal" : "", p.window ? cat(" w", p.window) : "");
}

}  // namespace

void check_attention_ops(Checker& c) {
  CudaContext ctx = B::new_context();
  const Problem problems[] = {
      // batch heads kv_heads q_len kv_len stride pos d1 d2 dv causal window
      {1, 8, 2, 1, 300, 512, 299, 128, 0, 128, true, 0},     // decode in a larger cache (split-KV)
      {1, 4, 1, 1, 2000, 2000, 1999, 128, 0, 128, true, 0},  // long decode: several splits
      {1, 8, 2, 5, 40, 64, 35, 64, 0, 64, true, 0},          // speculative-style q_len 5, GQA 4
      {2, 4, 2, 70, 70, 70, 0, 64, 0, 64, true, 0},          // prefill (tensor cores for bf16/f16)
      {1, 4, 4, 33, 100, 100, 67, 80, 0, 80, true, 20},      // chunked prefill with a window
      {1, 2, 2, 50, 50, 50, 0, 96, 0, 96, false, 0},         // bidirectional
      {1, 2, 1, 40, 40, 48, 0, 256, 0, 256, true, 0},        // head_dim 256, strided cache
      {1, 3, 3, 20, 20, 20, 0, 40, 0, 40, true, 0},          // head_dim 40 (CUDA-core kernel)
      {1, 3, 3, 20, 20, 20, 0, 36, 0, 36, true, 0},          // head_dim 36 (scalar key loads)
      {1, 2, 2, 70, 70, 70, 0, 128, 0, 128, true, 8},        // window smaller than a tile
  };
  for (DType dt : kActivationDtypes) {
    for (const Problem& p : problems) {
      const AttnConfig cfg{
          p.heads, p.kv_heads, p.d1, p.causal, 1.0f / std::sqrt(float(p.d1)), p.stride == p.kv_len ? 0 : p.stride,
          p.window};
      std::vector<float> qr, kr, vr;
      CudaBuffer q = upload(c, random_values(p.batch * p.heads * p.q_len * p.d1, 50, -2, 2), dt, &qr);
      CudaBuffer k = upload(c, random_values(p.batch * p.kv_heads * p.stride * p.d1, 51, -2, 2), dt, &kr);
      CudaBuffer v = upload(c, random_values(p.batch * p.kv_heads * p.stride * p.dv, 52), dt, &vr);
      CudaBuffer out = c.value("alloc", B::alloc(p.batch * p.heads * p.q_len * p.dv, dt));
      c.status("flash_attention", B::flash_attention(ctx, q, k, v, out, p.batch, p.q_len, p.kv_len, p.pos_offset, cfg));
      c.expect_close(describe("flash_attention", dt, p), download(c, out, out.numel()),
                     reference(p, cfg.scale, qr, kr, {}, vr), tolerance(dt));
    }
    // MLA: one latent head, keys = latent ++ rope part, values = latent.
    for (const Problem& p : {Problem{1, 4, 1, 3, 50, 50, 47, 64, 16, 64, true, 0},
                             Problem{2, 16, 1, 1, 600, 640, 599, 128, 32, 128, true, 0}}) {
      const AttnConfig cfg{
          p.heads, 1, p.d1 + p.d2, p.causal, 1.0f / std::sqrt(float(p.d1 + p.d2)), p.stride == p.kv_len ? 0 : p.stride,
          p.window};
      std::vector<float> qr, cr, rr;
      CudaBuffer q = upload(c, random_values(p.batch * p.heads * p.q_len * (p.d1 + p.d2), 53, -2, 2), dt, &qr);
      CudaBuffer latent = upload(c, random_values(p.batch * p.stride * p.d1, 54), dt, &cr);
      CudaBuffer rope = upload(c, random_values(p.batch * p.stride * p.d2, 55), dt, &rr);
      CudaBuffer out = c.value("alloc", B::alloc(p.batch * p.heads * p.q_len * p.d1, dt));
      c.status("mla_attention",
               B::mla_attention(ctx, q, latent, rope, out, p.batch, p.q_len, p.kv_len, p.pos_offset, cfg, p.d1, p.d2));
      c.expect_close(describe("mla_attention", dt, p), download(c, out, out.numel()),
                     reference(p, cfg.scale, qr, cr, rr, cr), tolerance(dt));
    }
  }
  c.status("sync", B::sync(ctx));
}

}  // namespace ferrum::cuda_check
