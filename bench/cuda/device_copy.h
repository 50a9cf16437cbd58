// The bandwidth bound the CUDA benchmarks report against: a device-to-device copy measured on the
// card in the same run.
#pragma once

namespace ferrum::bench {

// Median over 5 timed copies of 1 GiB (after one warm-up), bytes read + written per second, in
// GB/s; 0 when the buffers cannot be allocated.
double measure_copy_gbps();

}  // namespace ferrum::bench
