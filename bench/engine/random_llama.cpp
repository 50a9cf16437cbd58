#include "random_llama.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/half.h"
#include "core/tensor_view.h"
#include "formats/safetensors_writer.h"

namespace ferrum::bench {
namespace {

// xorshift64*: fast enough to fill a billion weights in a few seconds.
class FastRng {
 public:
  explicit FastRng(uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ULL + 1) {}
  float uniform() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return static_cast<float>((state_ * 0x2545f4914f6cdd1dULL) >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }

 private:
  uint64_t state_;
};

// Random bf16 values in +-scale, filled by several threads (an 8B model is 8e9 values), each
// chunk from its own generator so the result does not depend on the thread count.
std::vector<uint8_t> bf16_bytes(size_t count, float scale, uint64_t seed) {
  std::vector<uint8_t> bytes(count * 2);
  auto* out = reinterpret_cast<uint16_t*>(bytes.data());
  constexpr size_t kChunk = size_t{1} << 20;
  const size_t chunks = (count + kChunk - 1) / kChunk;
  std::atomic<size_t> next{0};
  const auto fill = [&] {
    for (size_t chunk = next++; chunk < chunks; chunk = next++) {
      FastRng rng(seed * 1000003 + chunk);
      const size_t end = std::min(count, (chunk + 1) * kChunk);
      for (size_t i = chunk * kChunk; i < end; ++i) out[i] = to_bf16(rng.uniform() * scale).bits;
    }
  };
  std::vector<std::thread> workers;
  const size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), chunks);
  for (size_t t = 1; t < threads; ++t) workers.emplace_back(fill);
  fill();
  for (std::thread& worker : workers) worker.join();
  return bytes;
}

std::vector<uint8_t> ones_bf16(size_t count) {
  std::vector<uint8_t> bytes(count * 2);
  auto* out = reinterpret_cast<uint16_t*>(bytes.data());
  for (size_t i = 0; i < count; ++i) out[i] = to_bf16(1.0f).bits;
  return bytes;
}

}  // namespace

size_t RandomLlamaShape::parameters() const {
  const size_t attention = hidden * (heads + 2 * kv_heads) * head_dim + heads * head_dim * hidden;
  const size_t mlp = 3 * hidden * intermediate;
  return layers * (attention + mlp + 2 * hidden) + 2 * vocab * hidden + hidden;
}

Expected<RandomLlamaShape> random_llama_shape(const std::string& name) {
  RandomLlamaShape shape;
  if (name == "tiny") return shape;
  if (name == "small") return RandomLlamaShape{32000, 768, 2048, 12, 12, 4, 64, 8192};
  if (name == "1b") return RandomLlamaShape{128256, 2048, 8192, 16, 32, 8, 64, 8192};
  if (name == "8b") return RandomLlamaShape{128256, 4096, 14336, 32, 32, 8, 128, 8192};
  return make_error(ErrorCode::kInvalidArgument, "unknown random model '", name, "' (tiny, small, 1b, 8b)");
}

Status write_random_llama(const std::filesystem::path& dir, const RandomLlamaShape& s, uint64_t seed) {
  // A model written before with the same shape is reused (the config records the shape).
  if (std::filesystem::exists(dir / "model.safetensors") && std::filesystem::exists(dir / "config.json")) {
    std::ifstream in(dir / "config.json");
    const nlohmann::json existing = nlohmann::json::parse(in, nullptr, false);
    if (!existing.is_discarded() && existing.value("hidden_size", size_t{0}) == s.hidden &&
        existing.value("num_hidden_layers", size_t{0}) == s.layers &&
        existing.value("vocab_size", size_t{0}) == s.vocab &&
        existing.value("intermediate_size", size_t{0}) == s.intermediate) {
      return ok();
    }
  }
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  FERRUM_CHECK(!error, ErrorCode::kIo, "cannot create ", dir.string(), ": ", error.message());
  nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                           {"model_type", "llama"},
                           {"vocab_size", s.vocab},
                           {"hidden_size", s.hidden},
                           {"intermediate_size", s.intermediate},
                           {"num_hidden_layers", s.layers},
                           {"num_attention_heads", s.heads},
                           {"num_key_value_heads", s.kv_heads},
                           {"head_dim", s.head_dim},
                           {"hidden_act", "silu"},
                           {"max_position_embeddings", s.max_positions},
                           {"rms_norm_eps", 1e-5},
                           {"rope_theta", 500000.0},
                           {"tie_word_embeddings", false},
                           {"torch_dtype", "bfloat16"}};
  std::ofstream(dir / "config.json") << config.dump(2);

  SafetensorsWriter writer;
  uint64_t tensor_seed = seed;
  const auto add = [&](const std::string& name, size_t rows, size_t cols) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
    return writer.add_tensor(name, DType::kBF16, Shape{static_cast<int64_t>(rows), static_cast<int64_t>(cols)},
                             bf16_bytes(rows * cols, scale, ++tensor_seed));
  };
  const auto add_norm = [&](const std::string& name) {
    return writer.add_tensor(name, DType::kBF16, Shape{static_cast<int64_t>(s.hidden)}, ones_bf16(s.hidden));
  };
  FERRUM_TRY(add("model.embed_tokens.weight", s.vocab, s.hidden));
  for (size_t i = 0; i < s.layers; ++i) {
    const std::string layer = "model.layers." + std::to_string(i) + ".";
    FERRUM_TRY(add_norm(layer + "input_layernorm.weight"));
    FERRUM_TRY(add(layer + "self_attn.q_proj.weight", s.heads * s.head_dim, s.hidden));
    FERRUM_TRY(add(layer + "self_attn.k_proj.weight", s.kv_heads * s.head_dim, s.hidden));
    FERRUM_TRY(add(layer + "self_attn.v_proj.weight", s.kv_heads * s.head_dim, s.hidden));
    FERRUM_TRY(add(layer + "self_attn.o_proj.weight", s.hidden, s.heads * s.head_dim));
    FERRUM_TRY(add_norm(layer + "post_attention_layernorm.weight"));
    FERRUM_TRY(add(layer + "mlp.gate_proj.weight", s.intermediate, s.hidden));
    FERRUM_TRY(add(layer + "mlp.up_proj.weight", s.intermediate, s.hidden));
    FERRUM_TRY(add(layer + "mlp.down_proj.weight", s.hidden, s.intermediate));
  }
  FERRUM_TRY(add_norm("model.norm.weight"));
  FERRUM_TRY(add("lm_head.weight", s.vocab, s.hidden));
  return writer.write(dir / "model.safetensors");
}

}  // namespace ferrum::bench
