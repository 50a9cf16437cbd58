// Data movement: copy_slice, copy_2d, embedding_lookup, split_qkv, qk_norm_rope (modes 0 / 1 / 2),
// kv_cache_append_head_major (into f32 / f16 / bf16 caches) and transpose_head_to_token.
#include <cmath>
#include <cstring>

#include "fixture_files.h"
#include "op_test.h"
#include "quant/dequantize.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

template <Backend B>
CaseResult run_copy_slice(DType dtype, size_t src_offset, size_t dst_offset, size_t len) {
  Rng rng(len + src_offset);
  const std::vector<float> src = random_values(rng, src_offset + len + 5, dtype);
  const std::vector<float> dst = random_values(rng, dst_offset + len + 3, dtype);
  OP_ASSIGN(auto src_buffer, upload<B>(src, dtype));
  OP_ASSIGN(auto dst_buffer, upload<B>(dst, dtype));
  auto ctx = B::new_context();
  OP_TRY(B::copy_slice(ctx, src_buffer, src_offset, dst_buffer, dst_offset, len));
  std::vector<float> expected = dst;
  std::copy_n(src.begin() + static_cast<std::ptrdiff_t>(src_offset), len,
              expected.begin() + static_cast<std::ptrdiff_t>(dst_offset));
  OP_ASSIGN(auto actual, download<B>(ctx, dst_buffer, dst.size()));
  return compare(actual, as_doubles(expected), kExact);
}

// A block of rows x cols between strided layouts, e.g. one tap of an im2col for a convolution.
template <Backend B>
CaseResult run_copy_2d(size_t src_offset, size_t src_stride, size_t dst_offset, size_t dst_stride, size_t rows,
                       size_t cols) {
  Rng rng(rows * cols + src_stride);
  const std::vector<float> src = random_values(rng, src_offset + (rows - 1) * src_stride + cols + 2, DType::kF32);
  const std::vector<float> dst = random_values(rng, dst_offset + (rows - 1) * dst_stride + cols + 2, DType::kF32);
  OP_ASSIGN(auto src_buffer, upload<B>(src, DType::kF32));
  OP_ASSIGN(auto dst_buffer, upload<B>(dst, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::copy_2d(ctx, src_buffer, src_offset, src_stride, dst_buffer, dst_offset, dst_stride, rows, cols));
  std::vector<float> expected = dst;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) expected[dst_offset + r * dst_stride + c] = src[src_offset + r * src_stride + c];
  }
  OP_ASSIGN(auto actual, download<B>(ctx, dst_buffer, dst.size()));
  return compare(actual, as_doubles(expected), kExact);
}

template <Backend B>
CaseResult run_embedding(DType dtype, size_t rows, size_t dim, size_t count) {
  Rng rng(rows + dim);
  const std::vector<float> table = random_values(rng, rows * dim, dtype);
  std::vector<uint32_t> ids(count);
  for (uint32_t& id : ids) id = static_cast<uint32_t>(rng.below(rows));
  if (count > 1) ids[count - 1] = static_cast<uint32_t>(rows - 1);  // the last row, and repeats
  if (count > 2) ids[0] = ids[1];
  OP_ASSIGN(auto table_buffer, upload<B>(table, dtype));
  OP_ASSIGN(auto out, B::alloc(count * dim, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::embedding_lookup(ctx, table_buffer, ids, out, dim));
  std::vector<double> expected;
  for (uint32_t id : ids) expected.insert(expected.end(), table.begin() + id * dim, table.begin() + (id + 1) * dim);
  OP_ASSIGN(auto actual, download<B>(ctx, out, count * dim));
  return compare(actual, expected, kExact);
}

// Rows of the GGUF fixture matrix gathered from its q4_K blocks (ggml's dequantization as truth).
template <Backend B>
CaseResult run_embedding_quantized() {
  OP_ASSIGN(auto blocks, read_file(fixture_path("quant/gguf/Q4_K.bin")));
  OP_ASSIGN(auto expected_bytes, read_file(fixture_path("quant/gguf/Q4_K.expected.f32")));
  std::vector<float> table(4 * 512);
  std::memcpy(table.data(), expected_bytes.data(), table.size() * sizeof(float));
  OP_ASSIGN(auto table_buffer, B::from_bytes(blocks, DType::kQ4_K, 4 * 512));
  const std::vector<uint32_t> ids = {3, 0, 3, 2};
  OP_ASSIGN(auto out, B::alloc(ids.size() * 512, DType::kF32));
  auto ctx = B::new_context();
  const Status status = B::embedding_lookup(ctx, table_buffer, ids, out, 512);
  if (!decodes_gguf_itself<B>() && !can_dequantize(DType::kQ4_K)) return expect_code(status, ErrorCode::kUnsupported);
  OP_TRY(status);
  std::vector<double> expected;
  for (uint32_t id : ids) expected.insert(expected.end(), table.begin() + id * 512, table.begin() + (id + 1) * 512);
  OP_ASSIGN(auto actual, download<B>(ctx, out, ids.size() * 512));
  return compare(actual, expected, kExact);
}

template <Backend B>
CaseResult run_split_qkv(size_t tokens, size_t q_dim, size_t kv_dim) {
  Rng rng(tokens + q_dim + kv_dim);
  const size_t row = q_dim + 2 * kv_dim;
  const std::vector<float> qkv = random_values(rng, tokens * row, DType::kF32);
  OP_ASSIGN(auto qkv_buffer, upload<B>(qkv, DType::kF32));
  OP_ASSIGN(auto q, B::alloc(tokens * q_dim, DType::kF32));
  OP_ASSIGN(auto k, B::alloc(tokens * kv_dim, DType::kF32));
  OP_ASSIGN(auto v, B::alloc(tokens * kv_dim, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::split_qkv(ctx, qkv_buffer, q, k, v, tokens, q_dim, kv_dim));
  std::vector<double> eq, ek, ev;
  for (size_t t = 0; t < tokens; ++t) {
    const float* r = &qkv[t * row];
    eq.insert(eq.end(), r, r + q_dim);
    ek.insert(ek.end(), r + q_dim, r + q_dim + kv_dim);
    ev.insert(ev.end(), r + q_dim + kv_dim, r + row);
  }
  OP_ASSIGN(auto aq, download<B>(ctx, q, eq.size()));
  OP_ASSIGN(auto ak, download<B>(ctx, k, ek.size()));
  OP_ASSIGN(auto av, download<B>(ctx, v, ev.size()));
  return compare_all({compare(aq, eq, kExact), compare(ak, ek, kExact), compare(av, ev, kExact)});
}

template <Backend B>
CaseResult run_qk_norm_rope(int mode, size_t tokens, size_t heads, size_t head_dim, size_t pos_offset, DType w_dtype) {
  Rng rng(tokens * 3 + heads + head_dim + static_cast<size_t>(mode));
  const std::vector<float> input = random_values(rng, tokens * heads * head_dim, DType::kF32, -2.0f, 2.0f);
  const std::vector<float> norm_w = random_values(rng, head_dim, w_dtype, 0.5f, 1.5f);
  // Real RoPE tables: angle (pos) * theta^(-2d / head_dim).
  const size_t half = head_dim / 2;
  const size_t positions = pos_offset + tokens;
  std::vector<float> cos(positions * half), sin(positions * half);
  for (size_t p = 0; p < positions; ++p) {
    for (size_t d = 0; d < half; ++d) {
      const double angle = static_cast<double>(p) * std::pow(10000.0, -2.0 * static_cast<double>(d) / head_dim);
      cos[p * half + d] = static_cast<float>(std::cos(angle));
      sin[p * half + d] = static_cast<float>(std::sin(angle));
    }
  }
  OP_ASSIGN(auto input_buffer, upload<B>(input, DType::kF32));
  OP_ASSIGN(auto w_buffer, upload<B>(norm_w, w_dtype));
  OP_ASSIGN(auto cos_buffer, upload<B>(cos, DType::kF32));
  OP_ASSIGN(auto sin_buffer, upload<B>(sin, DType::kF32));
  OP_ASSIGN(auto out, B::alloc(tokens * heads * head_dim, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::qk_norm_rope(ctx, input_buffer, w_buffer, cos_buffer, sin_buffer, out, tokens, heads, head_dim, pos_offset,
                         1e-6f, mode));
  OP_ASSIGN(auto actual, download<B>(ctx, out, tokens * heads * head_dim));
  return compare(actual, ref::qk_norm_rope(input, norm_w, cos, sin, tokens, heads, head_dim, pos_offset, 1e-6, mode),
                 mode == kQkTransposeOnly ? kExact : kF32Math);
}

template <Backend B>
CaseResult run_kv_append(DType cache_dtype, size_t nkv, size_t capacity, size_t cache_len, size_t new_tokens,
                         size_t hd) {
  Rng rng(nkv + capacity + cache_len + hd);
  const std::vector<float> cache_k = random_values(rng, nkv * capacity * hd, cache_dtype);
  const std::vector<float> cache_v = random_values(rng, nkv * capacity * hd, cache_dtype);
  const std::vector<float> new_k = random_values(rng, nkv * new_tokens * hd, DType::kF32);
  const std::vector<float> new_v = random_values(rng, nkv * new_tokens * hd, DType::kF32);
  OP_ASSIGN(auto ck, upload<B>(cache_k, cache_dtype));
  OP_ASSIGN(auto cv, upload<B>(cache_v, cache_dtype));
  OP_ASSIGN(auto nk, upload<B>(new_k, DType::kF32));
  OP_ASSIGN(auto nv, upload<B>(new_v, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::kv_cache_append_head_major(ctx, ck, cv, cache_len, capacity, nk, nv, new_tokens, nkv, hd));
  auto expected_of = [&](std::vector<float> cache, const std::vector<float>& fresh) {
    for (size_t h = 0; h < nkv; ++h) {
      for (size_t t = 0; t < new_tokens; ++t) {
        for (size_t d = 0; d < hd; ++d) {
          cache[(h * capacity + cache_len + t) * hd + d] = fresh[(h * new_tokens + t) * hd + d];
        }
      }
    }
    return as_doubles(cache);
  };
  OP_ASSIGN(auto ak, download<B>(ctx, ck, cache_k.size()));
  OP_ASSIGN(auto av, download<B>(ctx, cv, cache_v.size()));
  // New rows are rounded to the cache dtype; everything else must be untouched.
  const double tolerance = stored_tolerance(cache_dtype, kExact);
  return compare_all(
      {compare(ak, expected_of(cache_k, new_k), tolerance), compare(av, expected_of(cache_v, new_v), tolerance)});
}

template <Backend B>
CaseResult run_transpose(size_t tokens, size_t heads, size_t dim) {
  Rng rng(tokens + heads + dim);
  const std::vector<float> src = random_values(rng, heads * tokens * dim, DType::kF32);
  OP_ASSIGN(auto src_buffer, upload<B>(src, DType::kF32));
  OP_ASSIGN(auto dst, B::alloc(tokens * heads * dim, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::transpose_head_to_token(ctx, src_buffer, dst, tokens, heads, dim));
  std::vector<double> expected(src.size());
  for (size_t h = 0; h < heads; ++h) {
    for (size_t t = 0; t < tokens; ++t) {
      for (size_t d = 0; d < dim; ++d) expected[(t * heads + h) * dim + d] = src[(h * tokens + t) * dim + d];
    }
  }
  OP_ASSIGN(auto actual, download<B>(ctx, dst, expected.size()));
  return compare(actual, expected, kExact);
}

template <Backend B>
void add_error_cases(CaseList& cases) {
  using Buffer = typename B::Buffer;
  add_error_case<B>(cases, "copy_slice", "src range past the end", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer src, B::alloc(10, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer dst, B::alloc(10, DType::kF32));
    auto ctx = B::new_context();
    return B::copy_slice(ctx, src, 6, dst, 0, 5);
  });
  add_error_case<B>(cases, "copy_slice", "offset + len overflows", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer src, B::alloc(10, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer dst, B::alloc(10, DType::kF32));
    auto ctx = B::new_context();
    return B::copy_slice(ctx, src, SIZE_MAX - 2, dst, 0, 5);
  });
  add_error_case<B>(cases, "copy_slice", "f32 into bf16", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer src, B::alloc(10, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer dst, B::alloc(10, DType::kBF16));
    auto ctx = B::new_context();
    return B::copy_slice(ctx, src, 0, dst, 0, 5);
  });
  add_error_case<B>(cases, "copy_2d", "last row past the end", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer src, B::alloc(100, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer dst, B::alloc(100, DType::kF32));
    auto ctx = B::new_context();
    return B::copy_2d(ctx, src, 1, 50, dst, 0, 10, 3, 2);  // the third row would start at 101
  });
  add_error_case<B>(cases, "copy_2d", "rows x stride overflows", ErrorCode::kOutOfRange, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer src, B::alloc(100, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer dst, B::alloc(100, DType::kF32));
    auto ctx = B::new_context();
    return B::copy_2d(ctx, src, 0, SIZE_MAX / 2 + 1, dst, 0, 10, 3, 2);
  });
  add_error_case<B>(cases, "embedding_lookup", "id past the table", ErrorCode::kOutOfRange, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer table, B::alloc(5 * 4, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2 * 4, DType::kF32));
    const std::vector<uint32_t> ids = {4, 5};
    auto ctx = B::new_context();
    return B::embedding_lookup(ctx, table, ids, out, 4);
  });
  add_error_case<B>(cases, "embedding_lookup", "i32 table", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer table, B::alloc(5 * 4, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(4, DType::kF32));
    const std::vector<uint32_t> ids = {1};
    auto ctx = B::new_context();
    return B::embedding_lookup(ctx, table, ids, out, 4);
  });
  add_error_case<B>(cases, "split_qkv", "v too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer qkv, B::alloc(2 * 16, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer q, B::alloc(2 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer k, B::alloc(2 * 4, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer v, B::alloc(2 * 4 - 1, DType::kF32));
    auto ctx = B::new_context();
    return B::split_qkv(ctx, qkv, q, k, v, 2, 8, 4);
  });
  auto rope = [](size_t cos_numel, size_t head_dim, int mode) -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer input, B::alloc(2 * 3 * head_dim, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer w, B::alloc(head_dim, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer cos, B::alloc(cos_numel, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2 * 3 * head_dim, DType::kF32));
    auto ctx = B::new_context();
    return B::qk_norm_rope(ctx, input, w, cos, cos, out, 2, 3, head_dim, 5, 1e-6f, mode);
  };
  add_error_case<B>(cases, "qk_norm_rope", "cos shorter than pos_offset + tokens rows", ErrorCode::kShapeMismatch,
                    [=] { return rope(6 * 4 - 1, 8, kQkRope); });
  add_error_case<B>(cases, "qk_norm_rope", "odd head_dim with RoPE", ErrorCode::kInvalidArgument,
                    [=] { return rope(100, 7, kQkNormRope); });
  add_error_case<B>(cases, "qk_norm_rope", "mode 3", ErrorCode::kInvalidArgument, [=] { return rope(100, 8, 3); });
  add_error_case<B>(cases, "kv_cache_append_head_major", "past the capacity", ErrorCode::kOutOfRange, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer cache, B::alloc(2 * 8 * 4, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer cache_v, B::alloc(2 * 8 * 4, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer fresh, B::alloc(2 * 3 * 4, DType::kF32));
    auto ctx = B::new_context();
    return B::kv_cache_append_head_major(ctx, cache, cache_v, 6, 8, fresh, fresh, 3, 2, 4);
  });
  add_error_case<B>(cases, "kv_cache_append_head_major", "i32 cache", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer cache, B::alloc(2 * 8 * 4, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(Buffer fresh, B::alloc(2 * 3 * 4, DType::kF32));
    auto ctx = B::new_context();
    return B::kv_cache_append_head_major(ctx, cache, cache, 0, 8, fresh, fresh, 3, 2, 4);
  });
  add_error_case<B>(cases, "transpose_head_to_token", "dst too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer src, B::alloc(2 * 3 * 4, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer dst, B::alloc(2 * 3 * 4 - 1, DType::kF32));
    auto ctx = B::new_context();
    return B::transpose_head_to_token(ctx, src, dst, 3, 2, 4);
  });
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (auto [src_offset, dst_offset, len] :
         {std::tuple<size_t, size_t, size_t>{0, 0, 1}, {3, 17, 127}, {4096, 1, 4097}}) {
      add_case<B>(
          cases, "copy_slice", shape_name({{"src_offset", src_offset}, {"dst_offset", dst_offset}, {"len", len}}),
          std::string(dtype_name(dtype)), false, [=] { return run_copy_slice<B>(dtype, src_offset, dst_offset, len); });
    }
  }
  for (auto [so, ss, d0, ds, rows, cols] :
       {std::tuple<size_t, size_t, size_t, size_t, size_t, size_t>{0, 8, 0, 8, 1, 8},
        {3, 17, 5, 40, 13, 17},
        {0, 128, 64, 384, 127, 128},
        {7, 2, 0, 1, 9, 1}}) {
    add_case<B>(
        cases, "copy_2d",
        shape_name({{"src", so}, {"src_stride", ss}, {"dst", d0}, {"dst_stride", ds}, {"rows", rows}, {"cols", cols}}),
        "f32", false, [=] { return run_copy_2d<B>(so, ss, d0, ds, rows, cols); });
  }
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (auto [rows, dim, count] : {std::tuple<size_t, size_t, size_t>{1, 1, 1}, {512, 17, 40}, {1000, 4097, 3}}) {
      add_case<B>(cases, "embedding_lookup", shape_name({{"rows", rows}, {"dim", dim}, {"ids", count}}),
                  std::string(dtype_name(dtype)), false, [=] { return run_embedding<B>(dtype, rows, dim, count); });
    }
  }
  add_case<B>(cases, "embedding_lookup", "gguf fixture rows=4 dim=512 ids=4", "q4_K", false,
              [] { return run_embedding_quantized<B>(); });
  for (auto [tokens, q_dim, kv_dim] : {std::tuple<size_t, size_t, size_t>{1, 64, 16}, {17, 2048, 512}, {3, 80, 80}}) {
    add_case<B>(cases, "split_qkv", shape_name({{"tokens", tokens}, {"q_dim", q_dim}, {"kv_dim", kv_dim}}), "f32",
                false, [=] { return run_split_qkv<B>(tokens, q_dim, kv_dim); });
  }
  for (int mode : {0, 1, 2}) {
    for (auto [tokens, heads, head_dim, pos, dtype] :
         {std::tuple<size_t, size_t, size_t, size_t, DType>{1, 8, 64, 4095, DType::kF32},
          {17, 4, 80, 0, DType::kBF16},
          {5, 3, 128, 33, DType::kF16},
          {2, 2, 256, 7, DType::kF32}}) {
      add_case<B>(cases, "qk_norm_rope",
                  cat("mode ", mode, " ",
                      shape_name({{"tokens", tokens}, {"heads", heads}, {"head_dim", head_dim}, {"pos", pos}})),
                  mode == kQkNormRope ? std::string(dtype_name(dtype)) : "f32", false,
                  [=] { return run_qk_norm_rope<B>(mode, tokens, heads, head_dim, pos, dtype); });
    }
  }
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (auto [nkv, capacity, len, fresh, hd] : {std::tuple<size_t, size_t, size_t, size_t, size_t>{2, 16, 0, 16, 64},
                                                 {8, 4096, 4095, 1, 128},
                                                 {1, 100, 37, 17, 80}}) {
      add_case<B>(cases, "kv_cache_append_head_major",
                  shape_name({{"nkv", nkv}, {"capacity", capacity}, {"len", len}, {"new", fresh}, {"hd", hd}}),
                  std::string(dtype_name(dtype)), false,
                  [=] { return run_kv_append<B>(dtype, nkv, capacity, len, fresh, hd); });
    }
  }
  for (auto [tokens, heads, dim] : {std::tuple<size_t, size_t, size_t>{1, 32, 64}, {17, 3, 80}, {512, 8, 128}}) {
    add_case<B>(cases, "transpose_head_to_token", shape_name({{"tokens", tokens}, {"heads", heads}, {"dim", dim}}),
                "f32", false, [=] { return run_transpose<B>(tokens, heads, dim); });
  }
  add_error_cases<B>(cases);
}

}  // namespace

void add_layout_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
