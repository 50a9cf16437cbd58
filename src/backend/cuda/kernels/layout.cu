#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/kernels/gguf_decode.cuh"
#include "backend/cuda/kernels/layout.h"

namespace ferrum::cuda {
namespace {

constexpr unsigned kThreads = 256;

dim3 grid_for(size_t items) {
  size_t blocks = (items + kThreads - 1) / kThreads;
  if (blocks > 65535 * 4) blocks = 65535 * 4;
  return dim3(static_cast<unsigned>(blocks == 0 ? 1 : blocks));
}

// Moves whole "units" (16, 8, 4 or 2 bytes: the widest that divides every row length and offset) so
// that bf16 rows of 128 elements move as sixteen 16-byte units.
size_t unit_bytes(size_t elem_bytes, std::initializer_list<size_t> row_elems, std::initializer_list<const void*> ptrs) {
  for (size_t unit : {size_t{16}, size_t{8}, size_t{4}, size_t{2}, size_t{1}}) {
    bool fits = true;
    for (size_t n : row_elems) fits = fits && (n * elem_bytes) % unit == 0;
    for (const void* p : ptrs) fits = fits && is_aligned(p, unit);
    if (fits) return unit;
  }
  return 1;
}

template <size_t kBytes>
struct Unit;
template <>
struct Unit<16> {
  using type = uint4;
};
template <>
struct Unit<8> {
  using type = uint2;
};
template <>
struct Unit<4> {
  using type = uint32_t;
};
template <>
struct Unit<2> {
  using type = uint16_t;
};
template <>
struct Unit<1> {
  using type = uint8_t;
};

#define FERRUM_DISPATCH_UNIT(unit, U, ...) \
  switch (unit) {                          \
    case 16: {                             \
      using U = Unit<16>::type;            \
      __VA_ARGS__;                         \
      break;                               \
    }                                      \
    case 8: {                              \
      using U = Unit<8>::type;             \
      __VA_ARGS__;                         \
      break;                               \
    }                                      \
    case 4: {                              \
      using U = Unit<4>::type;             \
      __VA_ARGS__;                         \
      break;                               \
    }                                      \
    case 2: {                              \
      using U = Unit<2>::type;             \
      __VA_ARGS__;                         \
      break;                               \
    }                                      \
    default: {                             \
      using U = Unit<1>::type;             \
      __VA_ARGS__;                         \
      break;                               \
    }                                      \
  }

// Sizes below are in units.
template <class U>
__global__ void split_qkv_kernel(const U* __restrict__ qkv, U* __restrict__ q, U* __restrict__ k, U* __restrict__ v,
                                 size_t tokens, size_t q_dim, size_t kv_dim) {
  const size_t row = q_dim + 2 * kv_dim;
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < tokens * row; i += stride) {
    const size_t t = i / row, c = i % row;
    const U value = qkv[i];
    if (c < q_dim) {
      q[t * q_dim + c] = value;
    } else if (c < q_dim + kv_dim) {
      k[t * kv_dim + c - q_dim] = value;
    } else {
      v[t * kv_dim + c - q_dim - kv_dim] = value;
    }
  }
}

template <class U>
__global__ void transpose_head_to_token_kernel(const U* __restrict__ src, U* __restrict__ dst, size_t tokens,
                                               size_t heads, size_t dim) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < tokens * heads * dim; i += stride) {
    // i indexes dst [tokens, heads, dim]: consecutive threads write consecutive units.
    const size_t t = i / (heads * dim), h = (i / dim) % heads, d = i % dim;
    dst[i] = src[(h * tokens + t) * dim + d];
  }
}

template <class U>
__global__ void kv_append_kernel(U* cache_k, U* cache_v, const U* __restrict__ new_k, const U* __restrict__ new_v,
                                 size_t cache_len, size_t capacity, size_t new_tokens, size_t nkv, size_t hd,
                                 const int32_t* dyn_state) {
  const size_t start = dyn_state ? static_cast<size_t>(dyn_state[DecodeStateSlots::kStep]) : cache_len;
  const size_t per_tensor = nkv * new_tokens * hd;
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < 2 * per_tensor; i += stride) {
    const bool is_v = i >= per_tensor;
    const size_t j = is_v ? i - per_tensor : i;
    const size_t head = j / (new_tokens * hd), t = (j / hd) % new_tokens, d = j % hd;
    if (start + t >= capacity) continue;
    U* cache = is_v ? cache_v : cache_k;
    cache[(head * capacity + start + t) * hd + d] = (is_v ? new_v : new_k)[j];
  }
}

// The table row of output row i; an id below first_id wraps past the table (a zero row).
__device__ __forceinline__ size_t embedding_row(const uint32_t* ids, uint32_t first_id, const int32_t* dyn_state,
                                                size_t i) {
  const uint32_t id = dyn_state ? static_cast<uint32_t>(dyn_state[DecodeStateSlots::kToken]) : ids[i];
  return id - first_id;
}

// The converting variant: one element per thread.
template <class TNew, class TCache>
__global__ void kv_append_convert_kernel(TCache* cache_k, TCache* cache_v, const TNew* __restrict__ new_k,
                                         const TNew* __restrict__ new_v, size_t cache_len, size_t capacity,
                                         size_t new_tokens, size_t nkv, size_t hd, const int32_t* dyn_state) {
  const size_t start = dyn_state ? static_cast<size_t>(dyn_state[DecodeStateSlots::kStep]) : cache_len;
  const size_t per_tensor = nkv * new_tokens * hd;
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < 2 * per_tensor; i += stride) {
    const bool is_v = i >= per_tensor;
    const size_t j = is_v ? i - per_tensor : i;
    const size_t head = j / (new_tokens * hd), t = (j / hd) % new_tokens, d = j % hd;
    if (start + t >= capacity) continue;
    TCache* cache = is_v ? cache_v : cache_k;
    cache[(head * capacity + start + t) * hd + d] = from_f32<TCache>(to_f32((is_v ? new_v : new_k)[j]));
  }
}

template <class T, class Out>
__global__ void embedding_float_kernel(const T* __restrict__ table, size_t rows, size_t dim, const uint32_t* ids,
                                       uint32_t first_id, const int32_t* dyn_state, Out* __restrict__ out) {
  const size_t i = blockIdx.y;
  const size_t row = embedding_row(ids, first_id, dyn_state, i);
  for (size_t d = blockIdx.x * size_t{blockDim.x} + threadIdx.x; d < dim; d += size_t{gridDim.x} * blockDim.x) {
    out[i * dim + d] = row < rows ? from_f32<Out>(to_f32(table[row * dim + d])) : from_f32<Out>(0.0f);
  }
}

template <DType kType, class Out>
__global__ void embedding_gguf_kernel(const uint8_t* __restrict__ table, size_t rows, size_t dim, size_t row_bytes,
                                      const uint32_t* ids, uint32_t first_id, const int32_t* dyn_state,
                                      Out* __restrict__ out) {
  constexpr size_t kBlockElems = kType == DType::kQ4_0 || kType == DType::kQ4_1 || kType == DType::kQ5_0 ||
                                         kType == DType::kQ5_1 || kType == DType::kQ8_0
                                     ? 32
                                     : 256;
  constexpr size_t kBlockBytes = kType == DType::kQ4_0   ? 18
                                 : kType == DType::kQ4_1 ? 20
                                 : kType == DType::kQ5_0 ? 22
                                 : kType == DType::kQ5_1 ? 24
                                 : kType == DType::kQ8_0 ? 34
                                 : kType == DType::kQ2_K ? 84
                                 : kType == DType::kQ3_K ? 110
                                 : kType == DType::kQ4_K ? 144
                                 : kType == DType::kQ5_K ? 176
                                                         : 210;
  const size_t i = blockIdx.y;
  const size_t row = embedding_row(ids, first_id, dyn_state, i);
  for (size_t d = blockIdx.x * size_t{blockDim.x} + threadIdx.x; d < dim; d += size_t{gridDim.x} * blockDim.x) {
    float value = 0.0f;
    if (row < rows) {
      const uint8_t* block = table + row * row_bytes + d / kBlockElems * kBlockBytes;
      value = gguf_block_value<kType>(block, static_cast<int>(d % kBlockElems));
    }
    out[i * dim + d] = from_f32<Out>(value);
  }
}

__global__ void set_decode_state_kernel(int32_t* state, uint32_t token, uint32_t step) {
  state[DecodeStateSlots::kToken] = static_cast<int32_t>(token);
  state[DecodeStateSlots::kStep] = static_cast<int32_t>(step);
}

}  // namespace

Status launch_split_qkv(const void* qkv, void* q, void* k, void* v, size_t elem_bytes, size_t tokens, size_t q_dim,
                        size_t kv_dim, cudaStream_t stream) {
  if (tokens == 0) return ok();
  const size_t unit = unit_bytes(elem_bytes, {q_dim, kv_dim}, {qkv, q, k, v});
  const size_t qd = q_dim * elem_bytes / unit, kvd = kv_dim * elem_bytes / unit;
  const dim3 grid = grid_for(tokens * (qd + 2 * kvd));
  FERRUM_DISPATCH_UNIT(unit, U, {
    split_qkv_kernel<U><<<grid, kThreads, 0, stream>>>(static_cast<const U*>(qkv), static_cast<U*>(q),
                                                       static_cast<U*>(k), static_cast<U*>(v), tokens, qd, kvd);
  });
  return check_launch("split_qkv", grid, kThreads);
}

Status launch_transpose_head_to_token(const void* src, void* dst, size_t elem_bytes, size_t tokens, size_t heads,
                                      size_t dim, cudaStream_t stream) {
  if (tokens * heads * dim == 0) return ok();
  const size_t unit = unit_bytes(elem_bytes, {dim}, {src, dst});
  const size_t units = dim * elem_bytes / unit;
  const dim3 grid = grid_for(tokens * heads * units);
  FERRUM_DISPATCH_UNIT(unit, U, {
    transpose_head_to_token_kernel<U>
        <<<grid, kThreads, 0, stream>>>(static_cast<const U*>(src), static_cast<U*>(dst), tokens, heads, units);
  });
  return check_launch("transpose_head_to_token", grid, kThreads);
}

Status launch_kv_append(const KvAppendArgs& a, cudaStream_t stream) {
  if (a.new_tokens * a.nkv * a.hd == 0) return ok();
  if (a.cache_dtype != a.new_dtype) {
    const dim3 grid = grid_for(2 * a.nkv * a.new_tokens * a.hd);
    FERRUM_DISPATCH_FLOAT(a.new_dtype, TNew, "kv_cache_append_head_major",
                          FERRUM_DISPATCH_FLOAT(a.cache_dtype, TCache, "kv_cache_append_head_major", {
                            kv_append_convert_kernel<TNew, TCache><<<grid, kThreads, 0, stream>>>(
                                static_cast<TCache*>(a.cache_k), static_cast<TCache*>(a.cache_v),
                                static_cast<const TNew*>(a.new_k), static_cast<const TNew*>(a.new_v), a.cache_len,
                                a.capacity, a.new_tokens, a.nkv, a.hd, a.dyn_state);
                          }));
    return check_launch("kv_cache_append_head_major(convert)", grid, kThreads);
  }
  const size_t elem_bytes = dtype_info(a.new_dtype).block_bytes;
  const size_t unit = unit_bytes(elem_bytes, {a.hd}, {a.cache_k, a.cache_v, a.new_k, a.new_v});
  const size_t units = a.hd * elem_bytes / unit;
  const dim3 grid = grid_for(2 * a.nkv * a.new_tokens * units);
  FERRUM_DISPATCH_UNIT(unit, U, {
    kv_append_kernel<U><<<grid, kThreads, 0, stream>>>(
        static_cast<U*>(a.cache_k), static_cast<U*>(a.cache_v), static_cast<const U*>(a.new_k),
        static_cast<const U*>(a.new_v), a.cache_len, a.capacity, a.new_tokens, a.nkv, units, a.dyn_state);
  });
  return check_launch("kv_cache_append_head_major", grid, kThreads);
}

Status launch_embedding(const EmbeddingArgs& a, cudaStream_t stream) {
  if (a.count == 0 || a.dim == 0) return ok();
  const unsigned x_blocks = ceil_div(a.dim, kThreads) > 64 ? 64 : ceil_div(a.dim, kThreads);
  const dim3 grid(x_blocks, static_cast<unsigned>(a.count));
  if (is_quantized(a.table_dtype)) {
    const size_t row_bytes = row_bytes_unchecked(a.table_dtype, a.dim);
    FERRUM_DISPATCH_GGUF(
        a.table_dtype, kType, "embedding_lookup", FERRUM_DISPATCH_FLOAT(a.out_dtype, Out, "embedding_lookup", {
          embedding_gguf_kernel<kType, Out><<<grid, kThreads, 0, stream>>>(static_cast<const uint8_t*>(a.table), a.rows,
                                                                           a.dim, row_bytes, a.ids, a.first_id, a.dyn_state,
                                                                           static_cast<Out*>(a.out));
        }));
  } else {
    FERRUM_DISPATCH_FLOAT(
        a.table_dtype, T, "embedding_lookup", FERRUM_DISPATCH_FLOAT(a.out_dtype, Out, "embedding_lookup", {
          embedding_float_kernel<T, Out><<<grid, kThreads, 0, stream>>>(static_cast<const T*>(a.table), a.rows, a.dim,
                                                                        a.ids, a.first_id, a.dyn_state,
                                                                        static_cast<Out*>(a.out));
        }));
  }
  return check_launch("embedding_lookup", grid, kThreads);
}

Status launch_set_decode_state(int32_t* decode_state, uint32_t token, uint32_t step, cudaStream_t stream) {
  set_decode_state_kernel<<<1, 1, 0, stream>>>(decode_state, token, step);
  return check_launch("set_decode_state", dim3(1), dim3(1));
}

}  // namespace ferrum::cuda
