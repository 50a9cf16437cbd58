// Per-sequence state of a decoder: one head-major KV cache per layer, all holding `length` rows.
#pragma once

#include <vector>

#include "backend/backend.h"

namespace ferrum {

template <Backend B>
struct DecoderState {
  std::vector<KvCache<typename B::Buffer>> layers;
  size_t length = 0;    // tokens whose K / V are cached
  size_t capacity = 0;  // rows allocated per KV head

  // Allocates `num_layers` caches of [kv_heads, capacity, head_dim] in `dtype`.
  static Expected<DecoderState> create(size_t num_layers, size_t kv_heads, size_t head_dim, size_t capacity,
                                       DType dtype) {
    DecoderState state;
    state.capacity = capacity;
    state.layers.reserve(num_layers);
    for (size_t layer = 0; layer < num_layers; ++layer) {
      FERRUM_ASSIGN_OR_RETURN(auto k, B::alloc(kv_heads * capacity * head_dim, dtype));
      FERRUM_ASSIGN_OR_RETURN(auto v, B::alloc(kv_heads * capacity * head_dim, dtype));
      state.layers.push_back(KvCache<typename B::Buffer>{std::move(k), std::move(v), 0, capacity, kv_heads, head_dim});
    }
    return state;
  }

  // Records `tokens` more cached rows (what a forward does after appending them; a replayed decode
  // graph appends on the device and the host catches up here).
  void advance(size_t tokens) {
    length += tokens;
    for (auto& cache : layers) cache.len = length;
  }

  // Forgets cached tokens past `new_length` (the rows stay allocated).
  void truncate(size_t new_length) {
    if (new_length >= length) return;
    length = new_length;
    for (auto& cache : layers) cache.len = new_length;
  }
};

}  // namespace ferrum
