// f16 -> f32 for the block decoders and dot kernels: one F16C instruction where the build has it
// (x86 with -march=native), else the exact software conversion from core/half.h. Both are exact, as
// every f16 value is an f32 value, so results do not depend on which one runs.
#pragma once

#include "core/half.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace ferrum::quant {

inline float half_to_float(f16 value) {
#if defined(__F16C__)
  return _cvtsh_ss(value.bits);
#else
  return to_float(value);
#endif
}

}  // namespace ferrum::quant
