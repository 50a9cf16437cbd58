// Per-sequence state of a decoder with multi-head latent attention (DeepSeek V2 / V3): per layer,
// the normalised latent c_kv [capacity, kv_lora_rank] and the RoPE'd key part shared by all heads,
// [capacity, qk_rope_head_dim]. Nothing per head is cached: keys and values are recovered from the
// latent inside attention (the absorbed form of Backend::mla_attention).
#pragma once

#include <vector>

#include "backend/backend.h"

namespace ferrum {

template <class Buffer>
struct LatentKvCache {
  Buffer latent;    // [capacity, kv_lora_rank]
  Buffer rope_key;  // [capacity, qk_rope_head_dim]
  size_t capacity = 0;
};

template <Backend B>
struct LatentDecoderState {
  std::vector<LatentKvCache<typename B::Buffer>> layers;
  size_t length = 0;    // tokens cached
  size_t capacity = 0;  // rows allocated per layer

  static Expected<LatentDecoderState> create(size_t num_layers, size_t capacity, size_t latent_dim, size_t rope_dim,
                                             DType dtype) {
    LatentDecoderState state;
    state.capacity = capacity;
    state.layers.reserve(num_layers);
    for (size_t layer = 0; layer < num_layers; ++layer) {
      FERRUM_ASSIGN_OR_RETURN(auto latent, B::alloc(capacity * latent_dim, dtype));
      FERRUM_ASSIGN_OR_RETURN(auto rope_key, B::alloc(capacity * rope_dim, dtype));
      state.layers.push_back({std::move(latent), std::move(rope_key), capacity});
    }
    return state;
  }

  // Forgets cached tokens past `new_length` (the rows stay allocated).
  void truncate(size_t new_length) {
    if (new_length < length) length = new_length;
  }
};

}  // namespace ferrum
