// Buffer management: alloc, from_slice, from_bytes, to_vec (every dtype, dequantizing block types),
// to_host, and the one-rank all_gather.
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "fixture_files.h"
#include "op_test.h"
#include "quant/dequantize.h"

namespace ferrum::op_test {
namespace {

template <Backend B>
CaseResult run_roundtrip(DType dtype, size_t n) {
  Rng rng(n);
  std::vector<float> values = random_values(rng, n, dtype, -100.0f, 100.0f);
  if (dtype == DType::kI32) {
    for (float& value : values) value = std::round(value * 1000.0f);
  }
  OP_ASSIGN(auto buffer, upload<B>(values, dtype));
  if (buffer.numel() != n || buffer.dtype() != dtype) {
    CaseResult result;
    result.detail = cat("buffer reports ", buffer.numel(), " x ", buffer.dtype());
    return result;
  }
  auto ctx = B::new_context();
  OP_ASSIGN(auto actual, download<B>(ctx, buffer, n));
  return compare(actual, as_doubles(values), kExact);
}

template <Backend B>
CaseResult run_alloc(DType dtype, size_t n) {
  OP_ASSIGN(auto buffer, B::alloc(n, dtype));
  auto ctx = B::new_context();
  OP_ASSIGN(auto actual, download<B>(ctx, buffer, n));
  return compare(actual, std::vector<double>(n, 0.0), kExact);
}

// Raw bytes of each plain dtype and the values they encode, worked out by hand from the formats.
template <Backend B>
CaseResult run_from_bytes(DType dtype) {
  std::vector<uint8_t> bytes;
  std::vector<double> expected;
  auto append = [&](const auto& value, double as_double) {
    const size_t at = bytes.size();
    bytes.resize(at + sizeof value);
    std::memcpy(bytes.data() + at, &value, sizeof value);
    expected.push_back(as_double);
  };
  switch (dtype) {
    case DType::kF64:
      for (double v : {0.0, -1.5, 3.25e10, 1e-3}) append(v, static_cast<float>(v));
      break;
    case DType::kF16:
      for (auto [bits, value] :
           {std::pair<uint16_t, double>{0x3c00, 1.0}, {0xc000, -2.0}, {0x0001, 0x1p-24}, {0x7bff, 65504.0}}) {
        append(bits, value);
      }
      break;
    case DType::kBF16:
      for (auto [bits, value] : {std::pair<uint16_t, double>{0x3f80, 1.0}, {0xc0a0, -5.0}, {0x0080, 0x1p-126}}) {
        append(bits, value);
      }
      break;
    case DType::kF8E4M3:  // sign, 4 exponent bits (bias 7), 3 mantissa bits; no infinities
      for (auto [bits, value] : {std::pair<uint8_t, double>{0x00, 0.0},
                                 {0x38, 1.0},
                                 {0x40, 2.0},
                                 {0xb8, -1.0},
                                 {0x01, 0x1p-9},
                                 {0x7e, 448.0},
                                 {0x3c, 1.5}}) {
        append(bits, value);
      }
      break;
    case DType::kI64:
      for (int64_t v : {int64_t{0}, int64_t{-7}, int64_t{1} << 40}) append(v, static_cast<double>(v));
      break;
    case DType::kI32:
      for (int32_t v : {0, -7, 123456}) append(v, v);
      break;
    case DType::kI16:
      for (int16_t v : {int16_t{0}, int16_t{-300}, int16_t{32767}}) append(v, v);
      break;
    case DType::kI8:
      for (int8_t v : {int8_t{0}, int8_t{-128}, int8_t{127}}) append(v, v);
      break;
    case DType::kU8:
    case DType::kBool:
      for (uint8_t v : {uint8_t{0}, uint8_t{1}, static_cast<uint8_t>(dtype == DType::kU8 ? 255 : 1)}) append(v, v);
      break;
    default: break;
  }
  OP_ASSIGN(auto buffer, B::from_bytes(bytes, dtype, expected.size()));
  auto ctx = B::new_context();
  OP_ASSIGN(auto actual, download<B>(ctx, buffer, expected.size()));
  return compare(actual, expected, kExact);
}

// to_vec of a GGUF block buffer: whole (2048 values) or cut inside a block (100 values).
template <Backend B>
CaseResult run_to_vec_quantized(size_t n) {
  OP_ASSIGN(auto blocks, read_file(fixture_path("quant/gguf/Q8_0.bin")));
  OP_ASSIGN(auto expected_bytes, read_file(fixture_path("quant/gguf/Q8_0.expected.f32")));
  OP_ASSIGN(auto buffer, B::from_bytes(blocks, DType::kQ8_0, 2048));
  auto ctx = B::new_context();
  auto actual = download<B>(ctx, buffer, n);
  if (!decodes_gguf_itself<B>() && !can_dequantize(DType::kQ8_0))
    return expect_code(actual ? ok() : Status(actual.error()), ErrorCode::kUnsupported);
  OP_TRY(actual);
  std::vector<float> expected(n);
  std::memcpy(expected.data(), expected_bytes.data(), n * sizeof(float));
  return compare(*actual, as_doubles(expected), kExact);
}

template <Backend B>
CaseResult run_to_host() {
  const std::vector<float> values = {1.0f, -2.5f, 65504.0f, 1e-3f};
  OP_ASSIGN(auto buffer, upload<B>(values, DType::kF16));
  std::vector<uint8_t> bytes(7);  // three and a half values: a prefix need not be whole elements
  OP_TRY(B::to_host(buffer, bytes));
  std::vector<float> actual;
  std::vector<double> expected;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint16_t bits = to_f16(values[i / 2]).bits;
    actual.push_back(bytes[i]);
    expected.push_back(i % 2 == 0 ? (bits & 0xff) : (bits >> 8));
  }
  return compare(actual, expected, kExact);
}

template <Backend B>
CaseResult run_all_gather(size_t n) {
  Rng rng(n);
  const std::vector<float> local = random_values(rng, n, DType::kF32);
  OP_ASSIGN(auto local_buffer, upload<B>(local, DType::kF32));
  OP_ASSIGN(auto global, B::alloc(n * B::world_size(B::new_context()), DType::kF32));
  auto ctx = B::new_context();
  OP_TRY(B::all_gather(ctx, local_buffer, global, n));
  OP_ASSIGN(auto actual, download<B>(ctx, global, n));
  return compare(actual, as_doubles(local), kExact);
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kI32}) {
    for (size_t n : {size_t{1}, size_t{17}, size_t{4097}}) {
      add_case<B>(cases, "from_slice/to_vec", shape_name({{"n", n}}), std::string(dtype_name(dtype)), false,
                  [dtype, n] { return run_roundtrip<B>(dtype, n); });
    }
    add_case<B>(cases, "alloc", "zeroed n=4097", std::string(dtype_name(dtype)), false,
                [dtype] { return run_alloc<B>(dtype, 4097); });
  }
  for (DType dtype : {DType::kF64, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kI64, DType::kI32, DType::kI16,
                      DType::kI8, DType::kU8, DType::kBool}) {
    add_case<B>(cases, "from_bytes/to_vec", "hand-encoded values", std::string(dtype_name(dtype)), false,
                [dtype] { return run_from_bytes<B>(dtype); });
  }
  for (size_t n : {size_t{2048}, size_t{100}}) {
    add_case<B>(cases, "to_vec", cat("dequantize gguf fixture n=", n), "q8_0", false,
                [n] { return run_to_vec_quantized<B>(n); });
  }
  add_case<B>(cases, "to_host", "f16 bytes, 7-byte prefix", "f16", false, [] { return run_to_host<B>(); });
  for (size_t n : {size_t{1}, size_t{4097}}) {
    add_case<B>(cases, "all_gather", shape_name({{"local_len", n}}), "f32", false,
                [n] { return run_all_gather<B>(n); });
  }

  using Buffer = typename B::Buffer;
  add_error_case<B>(cases, "from_bytes", "7 bytes for 4 f16", ErrorCode::kShapeMismatch, []() -> Status {
    const std::vector<uint8_t> bytes(7);
    FERRUM_TRY(B::from_bytes(bytes, DType::kF16, 4));
    return ok();
  });
  add_error_case<B>(cases, "from_bytes", "40 q8_0 values (not whole blocks)", ErrorCode::kShapeMismatch,
                    []() -> Status {
                      const std::vector<uint8_t> bytes(68);
                      FERRUM_TRY(B::from_bytes(bytes, DType::kQ8_0, 40));
                      return ok();
                    });
  add_error_case<B>(cases, "from_slice", "floats as q4_0", ErrorCode::kUnsupported, []() -> Status {
    const std::vector<float> values(32, 1.0f);
    FERRUM_TRY(B::from_slice(values, DType::kQ4_0));
    return ok();
  });
  add_error_case<B>(cases, "from_slice", "1.5 as i32", ErrorCode::kInvalidArgument, []() -> Status {
    const std::vector<float> values = {1.0f, 1.5f};
    FERRUM_TRY(B::from_slice(values, DType::kI32));
    return ok();
  });
  add_error_case<B>(cases, "to_vec", "n past the end", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer buffer, B::alloc(4, DType::kF32));
    FERRUM_TRY(B::to_vec(buffer, 5));
    return ok();
  });
  add_error_case<B>(cases, "to_host", "more bytes than stored", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer buffer, B::alloc(4, DType::kF16));
    std::vector<uint8_t> bytes(9);
    return B::to_host(buffer, bytes);
  });
  add_error_case<B>(cases, "all_gather", "global too small", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer local, B::alloc(8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer global, B::alloc(7, DType::kF32));
    auto ctx = B::new_context();
    return B::all_gather(ctx, local, global, 8);
  });
}

}  // namespace

void add_memory_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
