// CudaBackend: buffers, contexts, copies.
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <tuple>

#include "backend/cuda/backend_checks.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/host_upload.h"
#include "backend/cuda/kernels/dequant.h"
#include "backend/cuda/nccl_communicator.h"
#include "core/half.h"

namespace ferrum {

using cuda::elem_bytes;

Expected<CudaBuffer> CudaBackend::alloc(size_t n, DType dtype) {
  return CudaBuffer::allocate(dtype, n);
}

Expected<CudaBuffer> CudaBackend::from_slice(std::span<const float> values, DType dtype) {
  const size_t n = values.size();
  std::vector<uint8_t> host;
  switch (dtype) {
    case DType::kF32:
      host.resize(n * 4);
      std::memcpy(host.data(), values.data(), n * 4);
      break;
    case DType::kF16:
    case DType::kBF16: {
      host.resize(n * 2);
      auto* out = reinterpret_cast<uint16_t*>(host.data());
      for (size_t i = 0; i < n; ++i) out[i] = dtype == DType::kF16 ? to_f16(values[i]).bits : to_bf16(values[i]).bits;
      break;
    }
    case DType::kI32: {
      host.resize(n * 4);
      auto* out = reinterpret_cast<int32_t*>(host.data());
      for (size_t i = 0; i < n; ++i) {
        const float value = values[i];
        FERRUM_CHECK(std::nearbyint(value) == value && value >= -2147483648.0f && value < 2147483648.0f,
                     ErrorCode::kInvalidArgument, "from_slice: value ", value, " at index ", i,
                     " is not an i32 integer");
        out[i] = static_cast<int32_t>(value);
      }
      break;
    }
    default:
      return make_error(ErrorCode::kUnsupported, "from_slice: dtype ", dtype,
                        " is not a plain float type or i32; upload it with from_bytes");
  }
  return from_bytes(host, dtype, n);
}

Expected<CudaBuffer> CudaBackend::from_bytes(std::span<const uint8_t> bytes, DType dtype, size_t n) {
  FERRUM_ASSIGN_OR_RETURN(size_t nbytes, dtype_bytes(dtype, n));
  FERRUM_CHECK(bytes.size() == nbytes, ErrorCode::kShapeMismatch, "from_bytes: ", bytes.size(), " bytes given for ", n,
               " ", dtype, " values, which take ", nbytes);
  FERRUM_ASSIGN_OR_RETURN(CudaBuffer buffer, CudaBuffer::allocate(dtype, n, /*zero_fill=*/false));
  if (nbytes > 0) {
    const std::span<const uint8_t> parts[] = {bytes};
    FERRUM_TRY(cuda::upload_parts(buffer.data(), parts));
  }
  return buffer;
}

Expected<CudaBuffer> CudaBackend::from_byte_parts(std::span<const std::span<const uint8_t>> parts, DType dtype,
                                                  size_t n) {
  FERRUM_ASSIGN_OR_RETURN(size_t nbytes, dtype_bytes(dtype, n));
  size_t given = 0;
  for (const auto& part : parts) given += part.size();
  FERRUM_CHECK(given == nbytes, ErrorCode::kShapeMismatch, "from_byte_parts: ", given, " bytes given for ", n, " ",
               dtype, " values, which take ", nbytes);
  FERRUM_ASSIGN_OR_RETURN(CudaBuffer buffer, CudaBuffer::allocate(dtype, n, /*zero_fill=*/false));
  if (nbytes > 0) FERRUM_TRY(cuda::upload_parts(buffer.data(), parts));
  return buffer;
}

Expected<std::vector<float>> CudaBackend::to_vec(const CudaBuffer& buffer, size_t n) {
  FERRUM_TRY(check_numel("to_vec", "buffer", buffer, n));
  std::vector<float> values(n);
  if (n == 0) return values;
  const DType dtype = buffer.dtype();
  if (is_quantized(dtype)) {
    // Decode the whole blocks covering n values on the device (the decoder gemm_quant uses), then
    // copy the floats back and drop the excess.
    const size_t block = dtype_info(dtype).block_elems;
    const size_t covered = (n + block - 1) / block * block;
    FERRUM_ASSIGN_OR_RETURN(CudaBuffer decoded, CudaBuffer::allocate(DType::kF32, covered, /*zero_fill=*/false));
    FERRUM_TRY(
        cuda::launch_gguf_dequantize(buffer.data(), dtype, 1, covered, decoded.data(), DType::kF32, cudaStreamLegacy));
    FERRUM_CUDA_TRY(cudaMemcpy(values.data(), decoded.data(), n * 4, cudaMemcpyDeviceToHost), "(to_vec)");
    return values;
  }
  // Legacy-stream copies: they wait for every context stream, so results of queued ops are visible.
  if (dtype == DType::kF32) {  // straight into the result: no staging vector, no conversion pass
    FERRUM_CUDA_TRY(cudaMemcpy(values.data(), buffer.data(), n * 4, cudaMemcpyDeviceToHost), "(to_vec, ", n * 4,
                    " bytes)");
    return values;
  }
  std::vector<uint8_t> host(n * elem_bytes(buffer));
  FERRUM_CUDA_TRY(cudaMemcpy(host.data(), buffer.data(), host.size(), cudaMemcpyDeviceToHost), "(to_vec, ", host.size(),
                  " bytes)");
  FERRUM_TRY(cuda::plain_to_float(dtype, host.data(), values.data(), n));
  return values;
}

Status CudaBackend::to_host(const CudaBuffer& buffer, std::span<uint8_t> host_bytes) {
  FERRUM_CHECK(host_bytes.size() <= buffer.nbytes(), ErrorCode::kShapeMismatch, "to_host: ", host_bytes.size(),
               " bytes asked from a buffer of ", buffer.nbytes());
  if (host_bytes.empty()) return ok();
  FERRUM_CUDA_TRY(cudaMemcpy(host_bytes.data(), buffer.data(), host_bytes.size(), cudaMemcpyDeviceToHost), "(to_host, ",
                  host_bytes.size(), " bytes)");
  return ok();
}

Status CudaBackend::to_host_async(CudaContext& ctx, const CudaBuffer& buffer, std::span<uint8_t> host_bytes) {
  FERRUM_TRY(ctx.usable());
  FERRUM_CHECK(host_bytes.size() <= buffer.nbytes(), ErrorCode::kShapeMismatch, "to_host_async: ", host_bytes.size(),
               " bytes asked from a buffer of ", buffer.nbytes());
  if (host_bytes.empty()) return ok();
  FERRUM_CUDA_TRY(
      cudaMemcpyAsync(host_bytes.data(), buffer.data(), host_bytes.size(), cudaMemcpyDeviceToHost, ctx.stream()),
      "(to_host_async, ", host_bytes.size(), " bytes)");
  return ok();
}

CudaContext CudaBackend::new_context() {
  return CudaContext();
}

CudaContext CudaBackend::new_peer_context(const CudaContext& parent) {
  CudaContext ctx;
  ctx.state().nccl = parent.state().nccl;
  return ctx;
}

Status CudaBackend::sync(CudaContext& ctx) {
  FERRUM_TRY(ctx.usable());
  if (ctx.state().deferred_error) {
    Error error = std::move(*ctx.state().deferred_error);
    ctx.state().deferred_error.reset();
    return error;
  }
  if (ctx.state().nccl != nullptr) {
    FERRUM_TRY(ctx.state().nccl->wait(ctx.stream()));
  } else {
    FERRUM_CUDA_TRY(cudaStreamSynchronize(ctx.stream()), "(sync)");
  }
  FERRUM_CUDA_TRY(cudaGetLastError(), "(after sync)");
  return ok();
}

Status CudaBackend::copy_slice(CudaContext& ctx, const CudaBuffer& src, size_t src_offset, CudaBuffer& dst,
                               size_t dst_offset, size_t len) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(cuda::check_same_dtype("copy_slice", "dst", dst, "src", src));
  FERRUM_CHECK(src_offset <= src.numel() && len <= src.numel() - src_offset, ErrorCode::kShapeMismatch,
               "copy_slice: src range ", src_offset, " + ", len, " passes its ", src.numel(), " elements");
  FERRUM_CHECK(dst_offset <= dst.numel() && len <= dst.numel() - dst_offset, ErrorCode::kShapeMismatch,
               "copy_slice: dst range ", dst_offset, " + ", len, " passes its ", dst.numel(), " elements");
  FERRUM_ASSIGN_OR_RETURN(size_t src_byte, dtype_bytes(src.dtype(), src_offset));
  FERRUM_ASSIGN_OR_RETURN(size_t dst_byte, dtype_bytes(dst.dtype(), dst_offset));
  FERRUM_ASSIGN_OR_RETURN(size_t nbytes, dtype_bytes(src.dtype(), len));
  if (nbytes == 0) return ok();
  FERRUM_CUDA_TRY(
      cudaMemcpyAsync(static_cast<char*>(dst.data()) + dst_byte, static_cast<const char*>(src.data()) + src_byte,
                      nbytes, cudaMemcpyDeviceToDevice, ctx.stream()),
      "(copy_slice, ", nbytes, " bytes)");
  return ok();
}

Status CudaBackend::copy_2d(CudaContext& ctx, const CudaBuffer& src, size_t src_offset, size_t src_stride,
                            CudaBuffer& dst, size_t dst_offset, size_t dst_stride, size_t rows, size_t cols) {
  FERRUM_TRY(ctx.usable());
  FERRUM_TRY(cuda::check_same_dtype("copy_2d", "dst", dst, "src", src));
  FERRUM_CHECK(!is_quantized(src.dtype()), ErrorCode::kUnsupported, "copy_2d: block-quantized dtype ", src.dtype());
  if (rows == 0 || cols == 0) return ok();
  FERRUM_CHECK(cols <= src_stride && cols <= dst_stride, ErrorCode::kInvalidArgument, "copy_2d: cols ", cols,
               " exceeds a stride (src ", src_stride, ", dst ", dst_stride, ")");
  // Extent of each side, overflow-checked: offset + (rows - 1) * stride + cols.
  for (auto [name, buffer, offset, stride] :
       {std::tuple<const char*, const CudaBuffer*, size_t, size_t>{"src", &src, src_offset, src_stride},
        {"dst", &dst, dst_offset, dst_stride}}) {
    FERRUM_ASSIGN_OR_RETURN(size_t span, checked_product("copy_2d", {rows - 1, stride}));
    FERRUM_CHECK(span <= SIZE_MAX - offset - cols, ErrorCode::kOutOfRange, "copy_2d: ", name, " extent overflows");
    FERRUM_TRY(check_numel("copy_2d", name, *buffer, offset + span + cols));
  }
  const size_t es = elem_bytes(src);
  FERRUM_CUDA_TRY(
      cudaMemcpy2DAsync(cuda::element_ptr(dst, dst_offset), dst_stride * es, cuda::element_ptr(src, src_offset),
                        src_stride * es, cols * es, rows, cudaMemcpyDeviceToDevice, ctx.stream()),
      "(copy_2d, ", rows, " x ", cols, ")");
  return ok();
}

}  // namespace ferrum
