// Data movement: slices, 2-D blocks, embedding gathers, QKV splits, the head-major transposes
// around attention, and the KV-cache append.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_simd.h"
#include "backend/op_checks.h"
#include "quant/dequantize.h"

namespace ferrum {
namespace {

namespace simd = cpu::simd;
using simd::kLanes;

// dst[i] = float(src[i]) for a plain float type, vector by vector.
template <class T>
void widen_row(const T* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) simd::store(dst + i, simd::load(src + i));
  if (i < n) simd::store_partial(dst + i, simd::load_partial(src + i, n - i), n - i);
}

// dst[i] = T(src[i]), rounding to nearest even for the 16-bit types.
template <class T>
void narrow_row(const float* src, T* dst, size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    std::memcpy(dst, src, n * sizeof(float));
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = cpu::from_f32<T>(src[i]);
  }
}

Status check_plain(std::string_view op, std::string_view arg, const CpuBuffer& buffer) {
  FERRUM_CHECK(!is_quantized(buffer.dtype()), ErrorCode::kUnsupported, op, ": ", arg, " has block type ",
               buffer.dtype(), ", which this op does not accept");
  return ok();
}

Status check_same_dtype(std::string_view op, const CpuBuffer& src, const CpuBuffer& dst) {
  FERRUM_CHECK(src.dtype() == dst.dtype(), ErrorCode::kUnsupported, op, ": src has dtype ", src.dtype(),
               " but dst has ", dst.dtype(), " (copies do not convert)");
  return ok();
}

Status check_distinct(std::string_view op, const CpuBuffer& input, const CpuBuffer& output) {
  FERRUM_CHECK(input.data() != output.data(), ErrorCode::kInvalidArgument, op,
               ": input and output are the same buffer; this op cannot work in place");
  return ok();
}

// Appends rows of one cache (k or v): cache[h, cache_len + t, :] = new[h, t, :].
template <class T>
void append_rows(CpuContext& ctx, T* cache, const float* fresh, size_t cache_len, size_t capacity, size_t new_tokens,
                 size_t nkv, size_t hd) {
  cpu::parallel_for(ctx, nkv * new_tokens, cpu::grain_for(hd), [&](size_t begin, size_t end) {
    for (size_t row = begin; row < end; ++row) {
      const size_t head = row / new_tokens;
      const size_t t = row % new_tokens;
      narrow_row(fresh + row * hd, cache + (head * capacity + cache_len + t) * hd, hd);
    }
  });
}

Status append_cache(std::string_view cache_name, std::string_view new_name, CpuContext& ctx, CpuBuffer& cache,
                    const CpuBuffer& fresh, size_t cache_len, size_t capacity, size_t new_tokens, size_t nkv,
                    size_t hd) {
  constexpr std::string_view op = "kv_cache_append_head_major";
  FERRUM_TRY(check_dtype(op, cache_name, cache, {DType::kF32, DType::kF16, DType::kBF16}));
  FERRUM_TRY(check_dtype(op, new_name, fresh, {DType::kF32}));
  FERRUM_TRY(check_numel(op, cache_name, cache, {nkv, capacity, hd}));
  FERRUM_TRY(check_numel(op, new_name, fresh, {nkv, new_tokens, hd}));
  const float* source = fresh.data_as<float>();
  cpu::with_float_type(cache.dtype(), [&](auto tag) {
    using T = decltype(tag);
    append_rows(ctx, cache.data_as<T>(), source, cache_len, capacity, new_tokens, nkv, hd);
  });
  return ok();
}

}  // namespace

Status cpu::copy_elements(std::string_view op, const CpuBuffer& src, size_t src_offset, CpuBuffer& dst,
                          size_t dst_offset, size_t len) {
  FERRUM_TRY(check_same_dtype(op, src, dst));
  FERRUM_TRY(check_range(op, "src", src.numel(), src_offset, len));
  FERRUM_TRY(check_range(op, "dst", dst.numel(), dst_offset, len));
  const DType dtype = src.dtype();
  const size_t block = dtype_info(dtype).block_elems;
  FERRUM_CHECK(src_offset % block == 0 && dst_offset % block == 0 && len % block == 0, ErrorCode::kShapeMismatch, op,
               ": offsets ", src_offset, ", ", dst_offset, " and length ", len, " must be whole ", dtype, " blocks of ",
               block);
  if (len == 0) return ok();
  // memmove: copy_slice within one buffer may overlap (shifting rows of a cache).
  std::memmove(static_cast<uint8_t*>(dst.data()) + row_bytes_unchecked(dtype, dst_offset),
               static_cast<const uint8_t*>(src.data()) + row_bytes_unchecked(dtype, src_offset),
               row_bytes_unchecked(dtype, len));
  return ok();
}

Status CpuBackend::copy_slice(CpuContext& /*ctx*/, const CpuBuffer& src, size_t src_offset, CpuBuffer& dst,
                              size_t dst_offset, size_t len) {
  return cpu::copy_elements("copy_slice", src, src_offset, dst, dst_offset, len);
}

Status CpuBackend::copy_2d(CpuContext& ctx, const CpuBuffer& src, size_t src_offset, size_t src_stride, CpuBuffer& dst,
                           size_t dst_offset, size_t dst_stride, size_t rows, size_t cols) {
  constexpr std::string_view op = "copy_2d";
  FERRUM_TRY(check_same_dtype(op, src, dst));
  FERRUM_TRY(check_plain(op, "src", src));
  if (rows == 0 || cols == 0) return ok();
  FERRUM_CHECK(dst_stride >= cols || rows == 1, ErrorCode::kInvalidArgument, op, ": dst_stride ", dst_stride,
               " < cols ", cols, " makes destination rows overlap");
  // The last row starts at offset + (rows - 1) * stride; the whole block must fit.
  FERRUM_ASSIGN_OR_RETURN(size_t src_span, checked_product(op, {rows - 1, src_stride}));
  FERRUM_ASSIGN_OR_RETURN(size_t dst_span, checked_product(op, {rows - 1, dst_stride}));
  FERRUM_CHECK(src_span <= src.numel(), ErrorCode::kShapeMismatch, op, ": src has ", src.numel(), " elements, ", rows,
               " rows of stride ", src_stride, " do not fit");
  FERRUM_CHECK(dst_span <= dst.numel(), ErrorCode::kShapeMismatch, op, ": dst has ", dst.numel(), " elements, ", rows,
               " rows of stride ", dst_stride, " do not fit");
  FERRUM_TRY(cpu::check_range(op, "src", src.numel() - src_span, src_offset, cols));
  FERRUM_TRY(cpu::check_range(op, "dst", dst.numel() - dst_span, dst_offset, cols));
  const size_t element = dtype_info(src.dtype()).block_bytes;
  const auto* from = static_cast<const uint8_t*>(src.data());
  auto* to = static_cast<uint8_t*>(dst.data());
  cpu::parallel_for(ctx, rows, cpu::grain_for(cols), [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      std::memmove(to + (dst_offset + r * dst_stride) * element, from + (src_offset + r * src_stride) * element,
                   cols * element);
    }
  });
  return ok();
}

namespace {

// out[i, :] = table[ids[i] - first_id, :]; an id outside the table's rows is an error, or with
// `outside_is_zero` (a vocabulary slice) a row of zeros.
Status lookup_rows(CpuContext& ctx, std::string_view op, const CpuBuffer& table, std::span<const uint32_t> ids,
                   size_t first_id, bool outside_is_zero, CpuBuffer& out, size_t dim) {
  const DType dtype = table.dtype();
  FERRUM_CHECK(cpu::is_plain_float(dtype) || (is_quantized(dtype) && can_dequantize(dtype)), ErrorCode::kUnsupported,
               op, ": table has dtype ", dtype, " (f32, f16, bf16 or a dequantizable block type)");
  FERRUM_TRY(check_dtype(op, "out", out, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "out", out, {ids.size(), dim}));
  if (ids.empty() || dim == 0) return ok();
  const size_t block = dtype_info(dtype).block_elems;
  FERRUM_CHECK(dim % block == 0, ErrorCode::kShapeMismatch, op, ": dim=", dim, " is not a whole number of ", dtype,
               " blocks of ", block);
  const size_t rows = table.numel() / dim;
  const auto inside = [&](uint32_t id) { return id >= first_id && id - first_id < rows; };
  for (size_t i = 0; i < ids.size() && !outside_is_zero; ++i) {
    FERRUM_CHECK(inside(ids[i]), ErrorCode::kOutOfRange, op, ": ids[", i, "] = ", ids[i], " is not below the table's ",
                 rows, " rows");
  }
  const auto* base = static_cast<const uint8_t*>(table.data());
  const size_t row_bytes = row_bytes_unchecked(dtype, dim);
  float* dst = out.data_as<float>();
  cpu::parallel_for(ctx, ids.size(), cpu::grain_for(dim), [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      float* out_row = dst + i * dim;
      if (!inside(ids[i])) {
        std::fill_n(out_row, dim, 0.0f);
        continue;
      }
      const uint8_t* row = base + (ids[i] - first_id) * row_bytes;
      switch (dtype) {
        case DType::kF32: std::memcpy(out_row, row, dim * sizeof(float)); break;
        case DType::kF16: widen_row(reinterpret_cast<const f16*>(row), out_row, dim); break;
        case DType::kBF16: widen_row(reinterpret_cast<const bf16*>(row), out_row, dim); break;
        default: dequantize_row(dtype, row, out_row, dim); break;
      }
    }
  });
  return ok();
}

}  // namespace

Status CpuBackend::embedding_lookup(CpuContext& ctx, const CpuBuffer& table, std::span<const uint32_t> ids,
                                    CpuBuffer& out, size_t dim) {
  return lookup_rows(ctx, "embedding_lookup", table, ids, 0, false, out, dim);
}

Status CpuBackend::embedding_lookup_slice(CpuContext& ctx, const CpuBuffer& table, std::span<const uint32_t> ids,
                                          size_t first_id, CpuBuffer& out, size_t dim) {
  return lookup_rows(ctx, "embedding_lookup_slice", table, ids, first_id, true, out, dim);
}

Status CpuBackend::split_qkv(CpuContext& ctx, const CpuBuffer& qkv, CpuBuffer& q, CpuBuffer& k, CpuBuffer& v,
                             size_t tokens, size_t q_dim, size_t kv_dim) {
  constexpr std::string_view op = "split_qkv";
  for (const auto& [name, buffer] :
       {std::pair<const char*, const CpuBuffer*>{"qkv", &qkv}, {"q", &q}, {"k", &k}, {"v", &v}}) {
    FERRUM_TRY(check_dtype(op, name, *buffer, {DType::kF32}));
  }
  FERRUM_ASSIGN_OR_RETURN(size_t kv_pair, checked_product(op, {2, kv_dim}));
  FERRUM_CHECK(q_dim <= SIZE_MAX - kv_pair, ErrorCode::kOutOfRange, op, ": q_dim + 2 kv_dim overflows");
  const size_t row = q_dim + kv_pair;
  FERRUM_TRY(check_numel(op, "qkv", qkv, {tokens, row}));
  FERRUM_TRY(check_numel(op, "q", q, {tokens, q_dim}));
  FERRUM_TRY(check_numel(op, "k", k, {tokens, kv_dim}));
  FERRUM_TRY(check_numel(op, "v", v, {tokens, kv_dim}));
  const float* src = qkv.data_as<float>();
  float* qs = q.data_as<float>();
  float* ks = k.data_as<float>();
  float* vs = v.data_as<float>();
  cpu::parallel_for(ctx, tokens, cpu::grain_for(row), [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t) {
      const float* in = src + t * row;
      std::memcpy(qs + t * q_dim, in, q_dim * sizeof(float));
      std::memcpy(ks + t * kv_dim, in + q_dim, kv_dim * sizeof(float));
      std::memcpy(vs + t * kv_dim, in + q_dim + kv_dim, kv_dim * sizeof(float));
    }
  });
  return ok();
}

Status CpuBackend::qk_norm_rope(CpuContext& ctx, const CpuBuffer& input, const CpuBuffer& norm_w, const CpuBuffer& cos,
                                const CpuBuffer& sin, CpuBuffer& output, size_t tokens, size_t heads, size_t head_dim,
                                size_t pos_offset, float eps, int mode) {
  constexpr std::string_view op = "qk_norm_rope";
  FERRUM_CHECK(mode == kQkTransposeOnly || mode == kQkNormRope || mode == kQkRope, ErrorCode::kInvalidArgument, op,
               ": mode ", mode, " is not 0 (transpose), 1 (norm + RoPE) or 2 (RoPE)");
  FERRUM_TRY(check_dtype(op, "input", input, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "output", output, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "input", input, {tokens, heads, head_dim}));
  FERRUM_TRY(check_numel(op, "output", output, {heads, tokens, head_dim}));
  FERRUM_TRY(check_distinct(op, input, output));
  const bool normalize = mode == kQkNormRope;
  const bool rotate = mode != kQkTransposeOnly;
  if (normalize) {
    FERRUM_TRY(check_dtype(op, "norm_w", norm_w, {DType::kF32, DType::kF16, DType::kBF16}));
    FERRUM_TRY(check_numel(op, "norm_w", norm_w, head_dim));
  }
  const size_t half = head_dim / 2;
  if (rotate) {
    FERRUM_CHECK(head_dim % 2 == 0, ErrorCode::kInvalidArgument, op, ": RoPE needs an even head_dim, got ", head_dim);
    FERRUM_CHECK(pos_offset <= SIZE_MAX - tokens, ErrorCode::kOutOfRange, op, ": pos_offset + tokens overflows");
    FERRUM_TRY(check_dtype(op, "cos", cos, {DType::kF32}));
    FERRUM_TRY(check_dtype(op, "sin", sin, {DType::kF32}));
    FERRUM_TRY(check_numel(op, "cos", cos, {pos_offset + tokens, half}));
    FERRUM_TRY(check_numel(op, "sin", sin, {pos_offset + tokens, half}));
  }
  if (tokens == 0 || heads == 0 || head_dim == 0) return ok();
  const float* in = input.data_as<float>();
  float* out = output.data_as<float>();
  const float* cos_table = rotate ? cos.data_as<float>() : nullptr;
  const float* sin_table = rotate ? sin.data_as<float>() : nullptr;
  // Mode 1 needs the weights as f32 for the vector loop; one conversion per call.
  std::vector<float> weights(normalize ? head_dim : 0);
  if (normalize) {
    cpu::with_float_type(norm_w.dtype(), [&](auto tag) {
      using W = decltype(tag);
      widen_row(norm_w.data_as<W>(), weights.data(), head_dim);
    });
  }
  cpu::parallel_for(ctx, tokens * heads, cpu::grain_for(4 * head_dim), [&](size_t begin, size_t end) {
    for (size_t item = begin; item < end; ++item) {
      const size_t t = item / heads;
      const size_t h = item % heads;
      const float* x = in + item * head_dim;
      float* y = out + (h * tokens + t) * head_dim;
      if (!rotate) {
        std::memcpy(y, x, head_dim * sizeof(float));
        continue;
      }
      float factor = 1.0f;
      if (normalize) {
        double sum = 0.0;
        for (size_t d = 0; d < head_dim; ++d) sum += static_cast<double>(x[d]) * x[d];
        factor = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(head_dim) + static_cast<double>(eps)));
      }
      const float* c = cos_table + (pos_offset + t) * half;
      const float* s = sin_table + (pos_offset + t) * half;
      // Rotate-half RoPE: the pair (x[d], x[d + half]) turns by the angle of frequency d.
      const simd::Vec f = simd::broadcast(factor);
      for (size_t d = 0; d < half; d += kLanes) {
        const size_t count = std::min(kLanes, half - d);
        simd::Vec a = simd::load_partial(x + d, count);
        simd::Vec b = simd::load_partial(x + d + half, count);
        if (normalize) {
          a = simd::mul(simd::mul(a, f), simd::load_partial(weights.data() + d, count));
          b = simd::mul(simd::mul(b, f), simd::load_partial(weights.data() + d + half, count));
        }
        const simd::Vec cv = simd::load_partial(c + d, count);
        const simd::Vec sv = simd::load_partial(s + d, count);
        simd::store_partial(y + d, simd::sub(simd::mul(a, cv), simd::mul(b, sv)), count);
        simd::store_partial(y + d + half, simd::fma(a, sv, simd::mul(b, cv)), count);
      }
    }
  });
  return ok();
}

Status CpuBackend::kv_cache_append_head_major(CpuContext& ctx, CpuBuffer& cache_k, CpuBuffer& cache_v, size_t cache_len,
                                              size_t cache_capacity, const CpuBuffer& new_k, const CpuBuffer& new_v,
                                              size_t new_tokens, size_t nkv, size_t hd) {
  FERRUM_CHECK(cache_len <= cache_capacity && new_tokens <= cache_capacity - cache_len, ErrorCode::kOutOfRange,
               "kv_cache_append_head_major: ", cache_len, " cached + ", new_tokens, " new rows exceed capacity ",
               cache_capacity);
  FERRUM_TRY(append_cache("cache_k", "new_k", ctx, cache_k, new_k, cache_len, cache_capacity, new_tokens, nkv, hd));
  return append_cache("cache_v", "new_v", ctx, cache_v, new_v, cache_len, cache_capacity, new_tokens, nkv, hd);
}

Status CpuBackend::transpose_head_to_token(CpuContext& ctx, const CpuBuffer& src, CpuBuffer& dst, size_t tokens,
                                           size_t heads, size_t dim) {
  constexpr std::string_view op = "transpose_head_to_token";
  FERRUM_TRY(check_dtype(op, "src", src, {DType::kF32}));
  FERRUM_TRY(check_dtype(op, "dst", dst, {DType::kF32}));
  FERRUM_TRY(check_numel(op, "src", src, {heads, tokens, dim}));
  FERRUM_TRY(check_numel(op, "dst", dst, {tokens, heads, dim}));
  FERRUM_TRY(check_distinct(op, src, dst));
  const float* from = src.data_as<float>();
  float* to = dst.data_as<float>();
  cpu::parallel_for(ctx, tokens * heads, cpu::grain_for(dim), [&](size_t begin, size_t end) {
    for (size_t item = begin; item < end; ++item) {
      const size_t t = item / heads;
      const size_t h = item % heads;
      std::memcpy(to + item * dim, from + (h * tokens + t) * dim, dim * sizeof(float));
    }
  });
  return ok();
}

}  // namespace ferrum
