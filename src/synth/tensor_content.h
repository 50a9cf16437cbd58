// What one tensor of a generated model holds and how its bytes are produced: random normal values
// (stored as a float type or quantized to a GGUF block type), constants, explicit values, or the
// integer-packed pieces of a GPTQ / AWQ layer. Bytes are produced in slices of rows on a thread
// pool and handed to the sink while the next slice is computed, so a model of any size is written
// with a few tens of MB of memory and the disk and the cores busy at once.
//
// Every row draws from its own random stream, seeded by (model seed, tensor, row): the bytes do
// not depend on the thread count or the slice size, so the same seed gives the same file anywhere.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor_view.h"
#include "core/thread_pool.h"
#include "formats/byte_sink.h"

namespace ferrum::synth {

enum class TensorContent {
  kNormal,        // N(0, scale^2), then converted / quantized to the tensor's dtype
  kConstant,      // every value `scale`
  kValues,        // `values`, in order (small tensors: rope factors)
  kRandomWords,   // uniformly random 32-bit words (packed 4-bit weights: every nibble uniform)
  kConstantWord,  // every word `word` (packed zero points)
  kGroupScales,   // f16 scales uniform in [0.75, 1.25] x `scale`
  kGroupIndex,    // g_idx: value k / group_size at index k
};

struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  TensorContent content = TensorContent::kNormal;
  float scale = 0;
  uint32_t word = 0;
  size_t group_size = 0;
  std::vector<float> values;
  uint64_t stream = 0;  // random stream of this tensor (its index in the model)
};

// Bytes the tensor occupies in its dtype.
Expected<size_t> tensor_spec_bytes(const TensorSpec& spec);

// Appends exactly tensor_spec_bytes(spec) bytes to `sink`.
Status write_tensor_content(const TensorSpec& spec, uint64_t seed, ThreadPool& pool, ByteSink& sink);

// A normal(0, 1) approximation from one 64-bit random word: the sum of its four 16-bit uniforms,
// centred and scaled to unit variance (Irwin-Hall with n = 4). Bounded at +-3.46: random weights
// without rare huge outliers, which is what real initialisations aim for too.
inline float unit_normal_from_bits(uint64_t bits) {
  const uint32_t sum = static_cast<uint32_t>(bits & 0xffff) + static_cast<uint32_t>((bits >> 16) & 0xffff) +
                       static_cast<uint32_t>((bits >> 32) & 0xffff) + static_cast<uint32_t>(bits >> 48);
  constexpr float kSqrt3 = 1.7320508f;
  return (static_cast<float>(sum) * (1.0f / 65536.0f) - 2.0f) * kSqrt3;
}

// SplitMix64: a 64-bit counter-based generator, good enough for weights and seeds alike.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

}  // namespace ferrum::synth
