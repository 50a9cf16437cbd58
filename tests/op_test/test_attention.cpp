// flash_attention and mla_attention over the whole AttnConfig: decode over long KV, prefill,
// chunked prefill (pos_offset > 0), GQA 1 / 4 / 8, sliding windows smaller and larger than the
// sequence, a pre-allocated cache (kv_seq_stride > kv_len), batch > 1, non-causal (encoders, cross
// attention), queries that see no key at all, head_dim 64 / 80 / 128 / 256, and K/V in f32 / f16 / bf16.
#include <cmath>

#include "op_test.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

struct AttnCase {
  const char* label;
  size_t batch, q_len, kv_len, pos_offset;
  size_t heads, kv_heads, head_dim;
  bool causal;
  size_t window;
  size_t stride;  // 0: kv_len
  DType kv_dtype;
  bool heavy;
};

constexpr AttnCase kCases[] = {
    {"decode, long kv, gqa 4", 1, 1, 4096, 4095, 8, 2, 64, true, 0, 0, DType::kF32, false},
    {"decode, long kv, gqa 8", 1, 1, 4096, 4095, 8, 1, 128, true, 0, 0, DType::kBF16, false},
    {"decode, cache stride > kv_len", 1, 1, 257, 256, 4, 2, 256, true, 0, 300, DType::kF16, false},
    {"decode, window < kv_len", 2, 1, 1000, 999, 4, 1, 80, true, 128, 1024, DType::kF32, false},
    {"one token prefill", 1, 1, 1, 0, 2, 2, 64, true, 0, 0, DType::kF32, false},
    {"prefill, gqa 1", 1, 127, 127, 0, 4, 4, 80, true, 0, 0, DType::kF32, false},
    {"prefill, gqa 4", 1, 77, 77, 0, 8, 2, 128, true, 0, 0, DType::kBF16, false},
    {"chunked prefill, pos_offset > 0", 1, 17, 100, 83, 8, 2, 64, true, 0, 0, DType::kF32, false},
    {"chunked prefill into a cache", 1, 33, 70, 37, 4, 1, 128, true, 0, 96, DType::kF16, false},
    {"window < seq", 1, 64, 64, 0, 4, 2, 128, true, 16, 0, DType::kF32, false},
    {"window 1", 1, 9, 9, 0, 2, 1, 64, true, 1, 0, DType::kF32, false},
    {"window > seq", 1, 33, 33, 0, 2, 2, 64, true, 1000, 0, DType::kBF16, false},
    {"batch 3, gqa 2", 3, 5, 9, 4, 4, 2, 64, true, 0, 0, DType::kF32, false},
    {"encoder, non-causal", 2, 31, 31, 0, 2, 2, 64, false, 0, 0, DType::kF32, false},
    {"cross-attention, non-causal", 1, 7, 100, 0, 4, 4, 80, false, 0, 0, DType::kF16, false},
    {"non-causal with window", 1, 10, 20, 5, 2, 1, 64, false, 8, 0, DType::kF32, false},
    {"queries that see no key", 1, 3, 10, 20, 2, 1, 64, true, 5, 0, DType::kF32, false},
    {"kv_len 0", 1, 2, 0, 0, 2, 1, 64, true, 0, 4, DType::kF32, false},
    {"head_dim 256 prefill", 1, 40, 40, 0, 2, 1, 256, true, 0, 0, DType::kBF16, false},
    {"prefill 512, gqa 4", 1, 512, 512, 0, 8, 2, 64, true, 0, 0, DType::kF32, true},
    {"prefill 512, head_dim 128", 1, 512, 512, 0, 4, 1, 128, true, 0, 0, DType::kBF16, true},
    {"decode, kv 4096, head_dim 256", 2, 1, 4096, 4095, 8, 2, 256, true, 0, 4100, DType::kF16, true},
};

template <Backend B>
CaseResult run_flash(const AttnCase& c) {
  AttnConfig cfg;
  cfg.num_heads = c.heads;
  cfg.num_kv_heads = c.kv_heads;
  cfg.head_dim = c.head_dim;
  cfg.causal = c.causal;
  cfg.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  cfg.kv_seq_stride = c.stride;
  cfg.sliding_window = c.window;
  const size_t stride = c.stride == 0 ? c.kv_len : c.stride;
  Rng rng(c.q_len * 7919 + c.kv_len * 31 + c.head_dim);
  // Queries scaled up so the softmax is peaked rather than flat (a flat one hides masking bugs).
  const std::vector<float> q = random_values(rng, c.batch * c.heads * c.q_len * c.head_dim, DType::kF32, -3.0f, 3.0f);
  const std::vector<float> k = random_values(rng, c.batch * c.kv_heads * stride * c.head_dim, c.kv_dtype);
  const std::vector<float> v = random_values(rng, c.batch * c.kv_heads * stride * c.head_dim, c.kv_dtype);
  OP_ASSIGN(auto q_buffer, upload<B>(q, DType::kF32));
  OP_ASSIGN(auto k_buffer, upload<B>(k, c.kv_dtype));
  OP_ASSIGN(auto v_buffer, upload<B>(v, c.kv_dtype));
  const size_t out_numel = c.batch * c.heads * c.q_len * c.head_dim;
  OP_ASSIGN(auto out, B::alloc(out_numel, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::flash_attention(ctx, q_buffer, k_buffer, v_buffer, out, c.batch, c.q_len, c.kv_len, c.pos_offset, cfg));
  OP_ASSIGN(auto actual, download<B>(ctx, out, out_numel));
  return compare(actual, ref::attention(q, k, v, c.batch, c.q_len, c.kv_len, c.pos_offset, cfg), kF32Math);
}

struct MlaCase {
  const char* label;
  size_t batch, q_len, kv_len, pos_offset, heads, rank, rope;
  size_t window;
  size_t stride;
  DType dtype;
  bool heavy;
};

constexpr MlaCase kMlaCases[] = {
    {"tiny deepseek prefill", 1, 40, 40, 0, 4, 16, 8, 0, 0, DType::kF32, false},
    {"decode into a cache", 2, 1, 70, 69, 16, 32, 16, 0, 128, DType::kBF16, false},
    {"chunked prefill", 1, 9, 50, 41, 4, 16, 8, 0, 0, DType::kF16, false},
    {"window", 1, 20, 20, 0, 2, 16, 8, 6, 0, DType::kF32, false},
    {"deepseek v3 decode, kv 1024", 1, 1, 1024, 1023, 16, 512, 64, 0, 0, DType::kBF16, true},
};

template <Backend B>
CaseResult run_mla(const MlaCase& c) {
  AttnConfig cfg;
  cfg.num_heads = c.heads;
  cfg.num_kv_heads = 1;
  cfg.head_dim = c.rank + c.rope;
  cfg.causal = true;
  cfg.scale = 1.0f / std::sqrt(static_cast<float>(cfg.head_dim));
  cfg.kv_seq_stride = c.stride;
  cfg.sliding_window = c.window;
  const size_t stride = c.stride == 0 ? c.kv_len : c.stride;
  Rng rng(c.q_len * 13 + c.kv_len + c.rank);
  const std::vector<float> q = random_values(rng, c.batch * c.heads * c.q_len * cfg.head_dim, DType::kF32, -3.0f, 3.0f);
  const std::vector<float> latent = random_values(rng, c.batch * stride * c.rank, c.dtype);
  const std::vector<float> rope = random_values(rng, c.batch * stride * c.rope, c.dtype);
  OP_ASSIGN(auto q_buffer, upload<B>(q, DType::kF32));
  OP_ASSIGN(auto latent_buffer, upload<B>(latent, c.dtype));
  OP_ASSIGN(auto rope_buffer, upload<B>(rope, c.dtype));
  const size_t out_numel = c.batch * c.heads * c.q_len * c.rank;
  OP_ASSIGN(auto out, B::alloc(out_numel, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::mla_attention(ctx, q_buffer, latent_buffer, rope_buffer, out, c.batch, c.q_len, c.kv_len, c.pos_offset, cfg,
                          c.rank, c.rope));
  OP_ASSIGN(auto actual, download<B>(ctx, out, out_numel));
  return compare(actual,
                 ref::mla_attention(q, latent, rope, c.batch, c.q_len, c.kv_len, c.pos_offset, cfg, c.rank, c.rope),
                 kF32Math);
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (const AttnCase& c : kCases) {
    const std::string name =
        cat(c.label, ": ", shape_name({{"b", c.batch}, {"q", c.q_len}, {"kv", c.kv_len}, {"pos", c.pos_offset}}),
            " h=", c.heads, "/", c.kv_heads, " hd=", c.head_dim, c.window ? cat(" win=", c.window) : "",
            c.stride ? cat(" stride=", c.stride) : "");
    add_case<B>(cases, "flash_attention", name, std::string(dtype_name(c.kv_dtype)), c.heavy,
                [c] { return run_flash<B>(c); });
  }
  for (const MlaCase& c : kMlaCases) {
    const std::string name =
        cat(c.label, ": ", shape_name({{"b", c.batch}, {"q", c.q_len}, {"kv", c.kv_len}, {"pos", c.pos_offset}}),
            " h=", c.heads, " rank=", c.rank, "+", c.rope);
    add_case<B>(cases, "mla_attention", name, std::string(dtype_name(c.dtype)), c.heavy, [c] { return run_mla<B>(c); });
  }

  using Buffer = typename B::Buffer;
  // A valid call (batch 1, q 2, kv 4, 4 heads over 2 KV heads of dim 8) with one thing broken.
  auto flash = [](size_t k_numel, DType kv_dtype, DType v_dtype, size_t heads, size_t stride) -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer q, B::alloc(4 * 2 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer k, B::alloc(k_numel, kv_dtype));
    FERRUM_ASSIGN_OR_RETURN(Buffer v, B::alloc(2 * 4 * 8, v_dtype));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(4 * 2 * 8, DType::kF32));
    AttnConfig cfg{heads, 2, 8, true, 0.35f, stride, 0};
    auto ctx = B::new_context();
    return B::flash_attention(ctx, q, k, v, out, 1, 2, 4, 2, cfg);
  };
  add_error_case<B>(cases, "flash_attention", "k too small", ErrorCode::kShapeMismatch,
                    [=] { return flash(63, DType::kF32, DType::kF32, 4, 0); });
  add_error_case<B>(cases, "flash_attention", "kv_seq_stride < kv_len", ErrorCode::kShapeMismatch,
                    [=] { return flash(64, DType::kF32, DType::kF32, 4, 3); });
  add_error_case<B>(cases, "flash_attention", "k is i32", ErrorCode::kUnsupported,
                    [=] { return flash(64, DType::kI32, DType::kI32, 4, 0); });
  add_error_case<B>(cases, "flash_attention", "k bf16 but v f32", ErrorCode::kUnsupported,
                    [=] { return flash(64, DType::kBF16, DType::kF32, 4, 0); });
  add_error_case<B>(cases, "flash_attention", "num_heads 3 over 2 kv heads", ErrorCode::kInvalidArgument,
                    [=] { return flash(64, DType::kF32, DType::kF32, 3, 0); });
  add_error_case<B>(cases, "mla_attention", "head_dim != rank + rope", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer q, B::alloc(2 * 24, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer latent, B::alloc(4 * 16, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer rope, B::alloc(4 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2 * 16, DType::kF32));
    AttnConfig cfg{2, 1, 25, true, 0.2f, 0, 0};
    auto ctx = B::new_context();
    return B::mla_attention(ctx, q, latent, rope, out, 1, 1, 4, 3, cfg, 16, 8);
  });
  add_error_case<B>(cases, "mla_attention", "kv_rope too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer q, B::alloc(2 * 24, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer latent, B::alloc(4 * 16, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer rope, B::alloc(4 * 8 - 1, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2 * 16, DType::kF32));
    AttnConfig cfg{2, 1, 24, true, 0.2f, 0, 0};
    auto ctx = B::new_context();
    return B::mla_attention(ctx, q, latent, rope, out, 1, 1, 4, 3, cfg, 16, 8);
  });
}

}  // namespace

void add_attention_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
