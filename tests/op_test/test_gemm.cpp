// gemm: out[m, n] = a[m, k] @ b[n, k]^T with b in f32 / f16 / bf16, over shapes that hit every
// kernel edge: m = 1..4 (the decode dot kernel) and above (packed panels), n and k off the vector
// width, k past the packing depth, a Llama-sized projection, and one (n, k) over many m.
#include <limits>
#include <tuple>

#include "op_test.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

struct GemmShape {
  size_t m, n, k;
  bool heavy;
};

constexpr GemmShape kShapes[] = {
    {1, 1, 1, false},
    {1, 17, 127, false},
    {1, 127, 4097, false},
    {2, 33, 300, false},
    {3, 17, 127, false},
    {4, 64, 1000, false},
    {5, 33, 300, false},
    {8, 40, 257, false},
    {17, 127, 65, false},
    {33, 300, 17, false},
    {64, 129, 520, false},
    {127, 31, 257, false},
    {127, 255, 1023, true},
    {64, 2048, 2048, true},
    // One (n, k) at several m of a row-count bucket and across buckets: CUDA runs the algorithm it
    // picked for a bucket's upper end at every m of it (backend_types.h's row_count_bucket).
    {9, 300, 200, false},
    {16, 300, 200, false},
    {100, 300, 200, false},
    {129, 300, 200, false},
    {520, 300, 200, false},
    {1000, 96, 64, false},
};

template <Backend B>
CaseResult run_gemm(size_t m, size_t n, size_t k, DType b_dtype) {
  Rng rng(m * 1000003 + n * 1009 + k);
  const std::vector<float> a = random_values(rng, m * k, DType::kF32);
  const std::vector<float> b = random_values(rng, n * k, b_dtype);
  OP_ASSIGN(auto a_buffer, upload<B>(a, DType::kF32));
  OP_ASSIGN(auto b_buffer, upload<B>(b, b_dtype));
  OP_ASSIGN(auto out, B::alloc(m * n, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::gemm(ctx, a_buffer, b_buffer, out, m, n, k));
  OP_ASSIGN(auto actual, download<B>(ctx, out, m * n));
  return compare(actual, ref::gemm(a, b, m, n, k), kF32Math);
}

// Per-head projections: batch = heads, each problem a decode row or a prefill block.
template <Backend B>
CaseResult run_gemm_batched(size_t batch, size_t m, size_t n, size_t k, DType b_dtype) {
  Rng rng(batch * 7919 + m * 1009 + n * 31 + k);
  const std::vector<float> a = random_values(rng, batch * m * k, DType::kF32);
  const std::vector<float> b = random_values(rng, batch * n * k, b_dtype);
  OP_ASSIGN(auto a_buffer, upload<B>(a, DType::kF32));
  OP_ASSIGN(auto b_buffer, upload<B>(b, b_dtype));
  OP_ASSIGN(auto out, B::alloc(batch * m * n, DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::gemm_batched(ctx, a_buffer, b_buffer, out, batch, m, n, k));
  OP_ASSIGN(auto actual, download<B>(ctx, out, batch * m * n));
  return compare(actual, ref::gemm_batched(a, b, batch, m, n, k), kF32Math);
}

template <Backend B>
void add_batched_cases(CaseList& cases) {
  for (auto [batch, m, n, k, heavy] : {std::tuple<size_t, size_t, size_t, size_t, bool>{1, 1, 1, 1, false},
                                       {4, 1, 16, 16, false},
                                       {3, 17, 33, 65, false},
                                       {16, 7, 512, 128, false},
                                       {2, 64, 129, 257, false},
                                       {128, 1, 512, 128, true}}) {
    for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
      add_case<B>(cases, "gemm_batched", shape_name({{"batch", batch}, {"m", m}, {"n", n}, {"k", k}}),
                  std::string(dtype_name(dtype)), heavy, [=] { return run_gemm_batched<B>(batch, m, n, k, dtype); });
    }
  }
  using Buffer = typename B::Buffer;
  auto call = [](size_t a_numel, size_t b_numel, DType b_dtype, size_t out_numel) -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer a, B::alloc(a_numel, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer b, B::alloc(b_numel, b_dtype));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(out_numel, DType::kF32));
    auto ctx = B::new_context();
    return B::gemm_batched(ctx, a, b, out, 3, 2, 4, 8);  // a 48, b 96, out 24
  };
  add_error_case<B>(cases, "gemm_batched", "a one problem short", ErrorCode::kShapeMismatch,
                    [=] { return call(32, 96, DType::kF32, 24); });
  add_error_case<B>(cases, "gemm_batched", "b one problem short", ErrorCode::kShapeMismatch,
                    [=] { return call(48, 64, DType::kF32, 24); });
  add_error_case<B>(cases, "gemm_batched", "out too small", ErrorCode::kShapeMismatch,
                    [=] { return call(48, 96, DType::kF32, 23); });
  add_error_case<B>(cases, "gemm_batched", "b is q8_0", ErrorCode::kUnsupported,
                    [=] { return call(48, 96, DType::kQ8_0, 24); });
}

template <Backend B>
void add_cases(CaseList& cases) {
  add_batched_cases<B>(cases);
  for (const GemmShape& s : kShapes) {
    for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
      add_case<B>(cases, "gemm", shape_name({{"m", s.m}, {"n", s.n}, {"k", s.k}}), std::string(dtype_name(dtype)),
                  s.heavy, [s, dtype] { return run_gemm<B>(s.m, s.n, s.k, dtype); });
    }
  }

  // Error paths: each buffer too small, dtypes the op does not take, sizes whose product overflows.
  using Buffer = typename B::Buffer;
  auto call = [](size_t a_numel, DType a_dtype, size_t b_numel, DType b_dtype, size_t out_numel, size_t m, size_t n,
                 size_t k) -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer a, B::alloc(a_numel, a_dtype));
    FERRUM_ASSIGN_OR_RETURN(Buffer b, B::alloc(b_numel, b_dtype));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(out_numel, DType::kF32));
    auto ctx = B::new_context();
    return B::gemm(ctx, a, b, out, m, n, k);
  };
  const DType f32 = DType::kF32;
  add_error_case<B>(cases, "gemm", "a too small", ErrorCode::kShapeMismatch,
                    [=] { return call(11, f32, 12, f32, 12, 3, 4, 4); });
  add_error_case<B>(cases, "gemm", "b too small", ErrorCode::kShapeMismatch,
                    [=] { return call(12, f32, 15, f32, 12, 3, 4, 4); });
  add_error_case<B>(cases, "gemm", "out too small", ErrorCode::kShapeMismatch,
                    [=] { return call(12, f32, 16, f32, 11, 3, 4, 4); });
  add_error_case<B>(cases, "gemm", "b is i32", ErrorCode::kUnsupported,
                    [=] { return call(12, f32, 16, DType::kI32, 12, 3, 4, 4); });
  add_error_case<B>(cases, "gemm", "b is q8_0 (use gemm_quant)", ErrorCode::kUnsupported,
                    [=] { return call(64, f32, 64, DType::kQ8_0, 4, 2, 2, 32); });
  if constexpr (!takes_half_activations<B>()) {
    add_error_case<B>(cases, "gemm", "a is bf16", ErrorCode::kUnsupported,
                      [=] { return call(12, DType::kBF16, 16, f32, 12, 3, 4, 4); });
  }
  add_error_case<B>(cases, "gemm", "m x k overflows", ErrorCode::kOutOfRange,
                    [=] { return call(16, f32, 16, f32, 16, std::numeric_limits<size_t>::max() / 2, 1, 4); });
}

}  // namespace

void add_gemm_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
