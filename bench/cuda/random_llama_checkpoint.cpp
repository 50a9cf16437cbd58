#include "random_llama_checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace ferrum::bench {
namespace {

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool norm = false;  // 1-D norm weight: values near 1
  size_t offset = 0;
  size_t bytes = 0;
};

std::vector<TensorSpec> llama_tensors(const RandomLlamaShape& s) {
  std::vector<TensorSpec> tensors;
  const auto add = [&](std::string name, std::vector<int64_t> shape, bool norm = false) {
    tensors.push_back({std::move(name), std::move(shape), norm});
  };
  const auto hidden = static_cast<int64_t>(s.hidden), inter = static_cast<int64_t>(s.intermediate);
  const auto q = static_cast<int64_t>(s.heads * s.head_dim), kv = static_cast<int64_t>(s.kv_heads * s.head_dim);
  add("model.embed_tokens.weight", {static_cast<int64_t>(s.vocab), hidden});
  for (size_t i = 0; i < s.layers; ++i) {
    const std::string layer = "model.layers." + std::to_string(i) + ".";
    add(layer + "input_layernorm.weight", {hidden}, true);
    add(layer + "self_attn.q_proj.weight", {q, hidden});
    add(layer + "self_attn.k_proj.weight", {kv, hidden});
    add(layer + "self_attn.v_proj.weight", {kv, hidden});
    add(layer + "self_attn.o_proj.weight", {hidden, q});
    add(layer + "post_attention_layernorm.weight", {hidden}, true);
    add(layer + "mlp.gate_proj.weight", {inter, hidden});
    add(layer + "mlp.up_proj.weight", {inter, hidden});
    add(layer + "mlp.down_proj.weight", {hidden, inter});
  }
  add("model.norm.weight", {hidden}, true);
  add("lm_head.weight", {static_cast<int64_t>(s.vocab), hidden});
  size_t offset = 0;
  for (TensorSpec& t : tensors) {
    size_t elements = 1;
    for (int64_t d : t.shape) elements *= static_cast<size_t>(d);
    t.offset = offset;
    t.bytes = elements * 2;
    offset += t.bytes;
  }
  return tensors;
}

// bf16 bit patterns: matrices get |w| in [2^-10, 2^-5) with a random sign (the scale of a trained
// model's weights, so activations stay finite through 32 layers); norm weights sit in [1, 2).
void fill_bf16(uint16_t* out, size_t count, uint64_t seed, bool norm) {
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < count; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    const auto bits = static_cast<uint32_t>(state);
    if (norm) {
      out[i] = static_cast<uint16_t>(0x3F80 | (bits & 0x7F));
    } else {
      const uint32_t exponent = 117 + (bits >> 8) % 5;  // 2^-10 .. 2^-6 times [1, 2)
      out[i] = static_cast<uint16_t>(((bits >> 16) & 0x8000) | (exponent << 7) | (bits & 0x7F));
    }
  }
}

}  // namespace

nlohmann::json llama_config_json(const RandomLlamaShape& s) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", s.hidden},
          {"intermediate_size", s.intermediate},
          {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads},
          {"num_key_value_heads", s.kv_heads},
          {"head_dim", s.head_dim},
          {"vocab_size", s.vocab},
          {"max_position_embeddings", 131072},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 500000.0},
          {"rope_scaling",
           {{"factor", 8.0},
            {"low_freq_factor", 1.0},
            {"high_freq_factor", 4.0},
            {"original_max_position_embeddings", 8192},
            {"rope_type", "llama3"}}},
          {"hidden_act", "silu"},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"tie_word_embeddings", false},
          {"torch_dtype", "bfloat16"},
          {"bos_token_id", 128000},
          {"eos_token_id", 128001}};
}

Expected<size_t> write_random_llama(const std::filesystem::path& dir, const RandomLlamaShape& shape) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  FERRUM_CHECK(!ec, ErrorCode::kIo, "creating ", dir.string(), ": ", ec.message());
  {
    std::ofstream config(dir / "config.json");
    config << llama_config_json(shape).dump(2) << "\n";
    FERRUM_CHECK(config.good(), ErrorCode::kIo, "writing ", (dir / "config.json").string());
  }
  const std::vector<TensorSpec> tensors = llama_tensors(shape);
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  for (const TensorSpec& t : tensors) {
    header[t.name] = {{"dtype", "BF16"}, {"shape", t.shape}, {"data_offsets", {t.offset, t.offset + t.bytes}}};
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const size_t data_start = 8 + header_text.size();
  const size_t data_bytes = tensors.back().offset + tensors.back().bytes;

  const std::filesystem::path path = dir / "model.safetensors";
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  FERRUM_CHECK(fd >= 0, ErrorCode::kIo, "creating ", path.string(), ": ", std::strerror(errno));
  uint64_t header_len = header_text.size();
  std::string prefix(reinterpret_cast<const char*>(&header_len), 8);
  prefix += header_text;
  bool ok_write = ::pwrite(fd, prefix.data(), prefix.size(), 0) == static_cast<ssize_t>(prefix.size());

  // Chunks of 32 MiB filled and written by all cores; each chunk's seed is its index, so the file
  // is the same on every run.
  constexpr size_t kChunk = size_t{32} << 20;
  struct Piece {
    size_t file_offset, bytes;
    bool norm;
    uint64_t seed;
  };
  std::vector<Piece> pieces;
  for (const TensorSpec& t : tensors) {
    for (size_t done = 0; done < t.bytes; done += kChunk) {
      pieces.push_back({data_start + t.offset + done, std::min(kChunk, t.bytes - done), t.norm, pieces.size()});
    }
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < threads; ++w) {
    workers.emplace_back([&] {
      std::vector<uint16_t> buffer(kChunk / 2);
      for (size_t i = next++; i < pieces.size(); i = next++) {
        const Piece& piece = pieces[i];
        fill_bf16(buffer.data(), piece.bytes / 2, piece.seed, piece.norm);
        if (::pwrite(fd, buffer.data(), piece.bytes, static_cast<off_t>(piece.file_offset)) !=
            static_cast<ssize_t>(piece.bytes)) {
          failed = true;
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  ok_write = ok_write && !failed;
  ::close(fd);
  FERRUM_CHECK(ok_write, ErrorCode::kIo, "writing ", path.string(), " failed");
  return data_start + data_bytes;
}

}  // namespace ferrum::bench
