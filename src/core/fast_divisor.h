// Division by a divisor fixed for a whole kernel launch, as a multiply and a shift.
//
// Why: the paged decode kernels turn every key index into (block-table slot, row in the block) with
// a runtime block size; a 32-bit integer division is a ~20-instruction sequence on the GPU, and the
// key-tile copies did one per row pass. The divisor is known on the host, so the host computes a
// magic multiplier once (Granlund & Montgomery, "Division by invariant integers using
// multiplication", 1994): with shift = ceil(log2 d) and magic = floor(2^32 (2^shift - d) / d) + 1,
//   n / d = (umulhi(n, magic) + n) >> shift   for every 0 <= n < 2^31
// (umulhi(n, magic) <= n, so the sum fits in 32 bits; a full 32-bit n would need 33).
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define FERRUM_HOST_DEVICE __host__ __device__
#else
#define FERRUM_HOST_DEVICE
#endif

namespace ferrum {

struct FastDivisor {
  uint32_t magic = 1;
  uint32_t shift = 0;
  int32_t divisor = 1;

  // d in [1, 2^31).
  static FastDivisor of(int32_t d) {
    FastDivisor f;
    f.divisor = d;
    while (f.shift < 31 && (uint64_t{1} << f.shift) < static_cast<uint64_t>(d)) ++f.shift;
    f.magic = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << f.shift) - d)) / d + 1);
    return f;
  }

  // n in [0, 2^31).
  FERRUM_HOST_DEVICE int32_t quotient(int32_t n) const {
    const auto u = static_cast<uint32_t>(n);
    const auto high = static_cast<uint32_t>((static_cast<uint64_t>(u) * magic) >> 32);
    return static_cast<int32_t>((high + u) >> shift);
  }

  FERRUM_HOST_DEVICE int32_t remainder(int32_t n, int32_t q) const { return n - q * divisor; }
};

}  // namespace ferrum
