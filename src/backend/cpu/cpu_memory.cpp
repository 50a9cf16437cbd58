// Buffer management for the CPU backend: allocation, upload with dtype conversion, download with
// conversion or dequantization.
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"
#include "backend/op_checks.h"
#include "quant/dequantize.h"

namespace ferrum {
namespace {

template <class T>
void widen(const void* src, float* dst, size_t n) {
  const T* values = static_cast<const T*>(src);
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(values[i]);
}

// Converts the first n values of a plain (non-block) dtype.
void plain_to_float(DType dtype, const void* src, float* dst, size_t n) {
  switch (dtype) {
    case DType::kF32:
      if (n != 0) std::memcpy(dst, src, n * sizeof(float));  // empty buffers may hold null
      return;
    case DType::kF16: {
      const f16* values = static_cast<const f16*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = to_float(values[i]);
      return;
    }
    case DType::kBF16: {
      const bf16* values = static_cast<const bf16*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = to_float(values[i]);
      return;
    }
    case DType::kF64: widen<double>(src, dst, n); return;
    case DType::kF8E4M3: {
      const uint8_t* values = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = to_float(f8e4m3{values[i]});
      return;
    }
    case DType::kI64: widen<int64_t>(src, dst, n); return;
    case DType::kI32: widen<int32_t>(src, dst, n); return;
    case DType::kI16: widen<int16_t>(src, dst, n); return;
    case DType::kI8: widen<int8_t>(src, dst, n); return;
    case DType::kU8:
    case DType::kBool: widen<uint8_t>(src, dst, n); return;
    default: return;  // block types go through dequantize_row
  }
}

}  // namespace

Expected<CpuBuffer> CpuBackend::alloc(size_t n, DType dtype) {
  return CpuBuffer::allocate(dtype, n);
}

Expected<CpuBuffer> CpuBackend::from_slice(std::span<const float> data, DType dtype) {
  FERRUM_CHECK(cpu::is_plain_float(dtype) || dtype == DType::kI32, ErrorCode::kUnsupported,
               "from_slice: cannot store floats as ", dtype, " (f32, f16, bf16 or i32)");
  FERRUM_ASSIGN_OR_RETURN(CpuBuffer buffer, CpuBuffer::allocate(dtype, data.size()));
  switch (dtype) {
    case DType::kF32:
      if (!data.empty()) std::memcpy(buffer.data(), data.data(), data.size_bytes());  // null data when empty
      break;
    case DType::kF16: {
      f16* out = buffer.data_as<f16>();
      for (size_t i = 0; i < data.size(); ++i) out[i] = to_f16(data[i]);
      break;
    }
    case DType::kBF16: {
      bf16* out = buffer.data_as<bf16>();
      for (size_t i = 0; i < data.size(); ++i) out[i] = to_bf16(data[i]);
      break;
    }
    default: {
      int32_t* out = buffer.data_as<int32_t>();
      for (size_t i = 0; i < data.size(); ++i) {
        const float value = data[i];
        // 2^31 is exactly representable; every float below it in magnitude and integral fits.
        FERRUM_CHECK(std::nearbyint(value) == value && value >= -2147483648.0f && value < 2147483648.0f,
                     ErrorCode::kInvalidArgument, "from_slice: value ", value, " at index ", i,
                     " is not an i32 integer");
        out[i] = static_cast<int32_t>(value);
      }
    }
  }
  return buffer;
}

Expected<CpuBuffer> CpuBackend::from_bytes(std::span<const uint8_t> bytes, DType dtype, size_t n) {
  FERRUM_ASSIGN_OR_RETURN(size_t needed, dtype_bytes(dtype, n));
  FERRUM_CHECK(bytes.size() == needed, ErrorCode::kShapeMismatch, "from_bytes: ", bytes.size(), " bytes given for ", n,
               " ", dtype, " values, which take ", needed);
  FERRUM_ASSIGN_OR_RETURN(CpuBuffer buffer, CpuBuffer::allocate(dtype, n));
  if (needed != 0) std::memcpy(buffer.data(), bytes.data(), needed);
  return buffer;
}

Expected<std::vector<float>> CpuBackend::to_vec(const CpuBuffer& buffer, size_t n) {
  FERRUM_TRY(check_numel("to_vec", "buffer", buffer, n));
  const DType dtype = buffer.dtype();
  if (!is_quantized(dtype)) {
    std::vector<float> values(n);
    plain_to_float(dtype, buffer.data(), values.data(), n);
    return values;
  }
  FERRUM_CHECK(can_dequantize(dtype), ErrorCode::kUnsupported, "to_vec: cannot dequantize ", dtype, " in this build");
  // Whole blocks only: decode the blocks covering n values, then drop the excess.
  const size_t block = dtype_info(dtype).block_elems;
  const size_t covered = (n + block - 1) / block * block;
  std::vector<float> values(covered);
  dequantize_row(dtype, buffer.data(), values.data(), covered);
  values.resize(n);
  return values;
}

Status CpuBackend::to_host(const CpuBuffer& buffer, std::span<uint8_t> host_bytes) {
  FERRUM_CHECK(host_bytes.size() <= buffer.nbytes(), ErrorCode::kShapeMismatch, "to_host: ", host_bytes.size(),
               " bytes asked of a buffer of ", buffer.nbytes());
  if (!host_bytes.empty()) std::memcpy(host_bytes.data(), buffer.data(), host_bytes.size());
  return ok();
}

}  // namespace ferrum
