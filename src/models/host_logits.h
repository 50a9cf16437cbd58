// Host storage for the logits a CausalLm hands back every step: kept between steps (allocating
// and zero-filling 128k floats per token cost more than the copy) and page-locked where the backend
// offers it (`B::alloc_host`), so the copy is one DMA. On an H100 host the 8B decode's per-step
// readback took ~300 us with a new vector each step and ~70 us into a reused pageable one:
// bench/results/2026-11-27-h100-host-step.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"

namespace ferrum {

namespace detail {

// Pageable storage, for backends without page-locked memory (the CPU's copy is a memcpy anyway).
template <class B>
struct HostFloats {
  std::vector<float> values;

  Expected<std::span<float>> resize(size_t n) {
    values.resize(n);
    return std::span<float>(values);
  }
};

template <class B>
requires requires(size_t bytes) {
  B::alloc_host(bytes);
}
struct HostFloats<B> {
  typename B::HostMemory memory;
  size_t capacity = 0;          // floats in `memory`
  std::vector<float> pageable;  // once page-locked memory ran out: slower, still correct
  bool pinned_failed = false;   // so a failing allocation is not retried every step

  Expected<std::span<float>> resize(size_t n) {
    if (capacity < n && !pinned_failed) {
      auto grown = B::alloc_host(n * sizeof(float));
      if (grown) {
        memory = std::move(*grown);
        capacity = n;
      } else {
        pinned_failed = true;
      }
    }
    if (capacity >= n) return std::span<float>(reinterpret_cast<float*>(memory.bytes().data()), n);
    pageable.resize(n);
    return std::span<float>(pageable);
  }
};

}  // namespace detail

template <Backend B>
class HostLogits {
 public:
  // Room for n floats, which view() then returns; what was there before may be lost.
  Expected<std::span<float>> resize(size_t n) {
    FERRUM_ASSIGN_OR_RETURN(view_, storage_.resize(n));
    return view_;
  }
  std::span<const float> view() const { return view_; }
  std::span<uint8_t> bytes() { return {reinterpret_cast<uint8_t*>(view_.data()), view_.size_bytes()}; }

 private:
  detail::HostFloats<B> storage_;
  std::span<float> view_;
};

}  // namespace ferrum
