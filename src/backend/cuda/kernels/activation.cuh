// Activation functions in f32, written to match PyTorch's definitions (accurate erf / tanh / exp,
// no fast-math approximations).
#pragma once

#include "backend/backend_types.h"

namespace ferrum::cuda {

__device__ __forceinline__ float sigmoid(float x) {
  return 1.0f / (1.0f + expf(-x));
}

template <Activation kAct>
__device__ __forceinline__ float activate(float x) {
  if constexpr (kAct == Activation::kGeluErf) {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  } else if constexpr (kAct == Activation::kGeluTanh) {
    constexpr float kSqrt2OverPi = 0.79788456080286536f;
    return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
  } else if constexpr (kAct == Activation::kGeluQuick) {
    return x * sigmoid(1.702f * x);
  } else if constexpr (kAct == Activation::kSigmoid) {
    return sigmoid(x);
  } else {
    return x * sigmoid(x);
  }
}

}  // namespace ferrum::cuda

// Binds the constexpr `kAct` to a runtime Activation.
#define FERRUM_DISPATCH_ACTIVATION(act, kAct, ...)                                                     \
  switch (act) {                                                                                       \
    case ::ferrum::Activation::kGeluErf: {                                                             \
      constexpr ::ferrum::Activation kAct = ::ferrum::Activation::kGeluErf;                            \
      __VA_ARGS__;                                                                                     \
      break;                                                                                           \
    }                                                                                                  \
    case ::ferrum::Activation::kGeluTanh: {                                                            \
      constexpr ::ferrum::Activation kAct = ::ferrum::Activation::kGeluTanh;                           \
      __VA_ARGS__;                                                                                     \
      break;                                                                                           \
    }                                                                                                  \
    case ::ferrum::Activation::kGeluQuick: {                                                           \
      constexpr ::ferrum::Activation kAct = ::ferrum::Activation::kGeluQuick;                          \
      __VA_ARGS__;                                                                                     \
      break;                                                                                           \
    }                                                                                                  \
    case ::ferrum::Activation::kSigmoid: {                                                             \
      constexpr ::ferrum::Activation kAct = ::ferrum::Activation::kSigmoid;                            \
      __VA_ARGS__;                                                                                     \
      break;                                                                                           \
    }                                                                                                  \
    case ::ferrum::Activation::kSilu: {                                                                \
      constexpr ::ferrum::Activation kAct = ::ferrum::Activation::kSilu;                               \
      __VA_ARGS__;                                                                                     \
      break;                                                                                           \
    }                                                                                                  \
    default: return ::ferrum::make_error(::ferrum::ErrorCode::kInvalidArgument, "unknown activation"); \
  }
