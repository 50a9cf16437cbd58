// The backends ferrum-op-test runs, as a compile-time type list. The CPU backend is always there;
// a build with FERRUM_HAS_CUDA adds the CUDA backend and every case runs on it too.
#pragma once

#include <string_view>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#ifdef FERRUM_HAS_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace ferrum::op_test {

template <Backend... Bs>
struct BackendList {};

#ifdef FERRUM_HAS_CUDA
using TestedBackends = BackendList<CpuBackend, CudaBackend>;
#else
using TestedBackends = BackendList<CpuBackend>;
#endif

template <Backend B>
constexpr std::string_view backend_name();
template <>
constexpr std::string_view backend_name<CpuBackend>() {
  return "cpu";
}
#ifdef FERRUM_HAS_CUDA
template <>
constexpr std::string_view backend_name<CudaBackend>() {
  return "cuda";
}
#endif

// Whether a backend takes f16 / bf16 activations (x, out, q/k/v, ...) beside f32. The CPU backend
// computes in f32 only; CUDA runs bf16 activations natively (test_half_activations.cpp).
template <Backend B>
constexpr bool takes_half_activations() {
  return false;
}
#ifdef FERRUM_HAS_CUDA
template <>
constexpr bool takes_half_activations<CudaBackend>() {
  return true;
}
#endif

// Whether a backend decodes GGUF blocks without the quant module's host decoder (CUDA has its own
// device decoder); otherwise GGUF support follows can_dequantize() of this build.
template <Backend B>
constexpr bool decodes_gguf_itself() {
  return false;
}
#ifdef FERRUM_HAS_CUDA
template <>
constexpr bool decodes_gguf_itself<CudaBackend>() {
  return true;
}
#endif

// Whether a backend's gemm_quant / gemm_gptq quantize the activations to 8 bits and multiply in
// integers (the CPU backend). The reference then rounds the activations the same documented way
// (test_quant.cpp, docs/quant.md), and the cost of that rounding is checked on its own.
template <Backend B>
constexpr bool quantizes_activations() {
  return false;
}
template <>
constexpr bool quantizes_activations<CpuBackend>() {
  return true;
}

// Calls f.template operator()<B>() for every tested backend B.
template <class F>
void for_each_backend(F&& f) {
  [&]<Backend... Bs>(BackendList<Bs...>) {
    (f.template operator()<Bs>(), ...);
  }
  (TestedBackends{});
}

}  // namespace ferrum::op_test
