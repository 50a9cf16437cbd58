#include "backend/cpu/cpu_common.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace ferrum::cpu {
namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

struct ScratchRegion {
  std::unique_ptr<float, FreeDeleter> memory;
  size_t floats = 0;
};

}  // namespace

float* thread_scratch(Scratch purpose, size_t floats) {
  thread_local std::array<ScratchRegion, static_cast<size_t>(Scratch::kCount)> regions;
  ScratchRegion& region = regions[static_cast<size_t>(purpose)];
  if (region.floats < floats) {
    constexpr size_t kAlignment = 64;
    const size_t bytes = (floats * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
    region.memory.reset(static_cast<float*>(std::aligned_alloc(kAlignment, bytes)));
    if (!region.memory) {
      std::fprintf(stderr, "ferrum: cannot allocate %zu bytes of CPU kernel scratch\n", bytes);
      std::abort();
    }
    region.floats = floats;
  }
  return region.memory.get();
}

Status check_range(std::string_view op, std::string_view arg, size_t numel, size_t offset, size_t len) {
  FERRUM_CHECK(len <= numel && offset <= numel - len, ErrorCode::kShapeMismatch, op, ": ", arg, " has ", numel,
               " elements, the range [", offset, ", ", offset, " + ", len, ") does not fit");
  return ok();
}

}  // namespace ferrum::cpu
