// Host -> device copies of large weights through pinned staging buffers: several threads copy a
// chunk into pinned memory while the copy engine moves the previous chunk, so a checkpoint in the
// page cache uploads at the speed of the slower of the two instead of a pageable cudaMemcpy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"

namespace ferrum::cuda {

// Copies the concatenation of `parts` to device memory at `dst`; returns when it is there. Runs on
// the legacy default stream, so it is ordered after work queued on the contexts' (blocking)
// streams, as the other uploads are.
Status upload_parts(void* dst, std::span<const std::span<const uint8_t>> parts);

}  // namespace ferrum::cuda
