// Host-side switches of the launch path (kernels/launch.cuh), read once from the environment so
// one binary can measure each setting.
#pragma once

namespace ferrum::cuda {

// Whether launches use programmatic dependent launch: on for compute capability 9.0 and newer
// unless FERRUM_CUDA_PDL=0.
bool pdl_enabled();
// Bytes of each weight row a GEMV block prefetches into L2 before waiting on its predecessor
// (FERRUM_CUDA_PREFETCH, default 2048; 0 disables). Only does anything under PDL.
unsigned gemv_prefetch_bytes();

}  // namespace ferrum::cuda
