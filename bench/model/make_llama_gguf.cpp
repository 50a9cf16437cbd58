// Writes a Llama-architecture GGUF with random bf16 weights (normal, std 0.02; norms 1) at chosen
// shapes, streaming one tensor at a time, for whole-model speed runs without a download:
//   ferrum-make-llama-gguf OUT.gguf [hidden layers heads kv_heads ffn vocab]
// The default is Llama-3.2-1B: 2048 16 32 8 8192 128256, tied embeddings. `ferrum quantize` then
// turns it into Q4_K_M / Q8_0.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/byte_sink.h"
#include "formats/gguf_writer.h"

using namespace ferrum;

namespace {

// Deterministic bf16 values, N(0, std), produced in pieces of rows.
GgufWriter::TensorProducer random_matrix(size_t rows, size_t cols, float std_dev, uint64_t seed) {
  return [=](ByteSink& sink) -> Status {
    std::mt19937_64 engine(seed);
    std::normal_distribution<float> normal(0.0f, std_dev);
    std::vector<bf16> row(cols);
    for (size_t r = 0; r < rows; ++r) {
      for (bf16& value : row) value = to_bf16(normal(engine));
      FERRUM_TRY(sink.append({reinterpret_cast<const uint8_t*>(row.data()), row.size() * sizeof(bf16)}));
    }
    return ok();
  };
}

GgufWriter::TensorProducer ones(size_t n) {
  return [n](ByteSink& sink) -> Status {
    const std::vector<float> values(n, 1.0f);
    return sink.append({reinterpret_cast<const uint8_t*>(values.data()), n * sizeof(float)});
  };
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 8) {
    std::fprintf(stderr, "usage: %s OUT.gguf [hidden layers heads kv_heads ffn vocab]\n", argv[0]);
    return 2;
  }
  size_t dims[6] = {2048, 16, 32, 8, 8192, 128256};
  for (int i = 0; i < 6 && argc == 8; ++i) dims[i] = std::strtoull(argv[2 + i], nullptr, 10);
  const auto [hidden, layers, heads, kv_heads, ffn, vocab] = dims;
  const size_t head_dim = hidden / heads;
  GgufWriter writer;
  writer.set_string("general.architecture", "llama");
  writer.set_string("general.name", "random-llama");
  writer.set_u32("general.file_type", 32);  // bf16
  writer.set_u32("llama.vocab_size", static_cast<uint32_t>(vocab));
  writer.set_u32("llama.context_length", 131072);
  writer.set_u32("llama.embedding_length", static_cast<uint32_t>(hidden));
  writer.set_u32("llama.block_count", static_cast<uint32_t>(layers));
  writer.set_u32("llama.feed_forward_length", static_cast<uint32_t>(ffn));
  writer.set_u32("llama.attention.head_count", static_cast<uint32_t>(heads));
  writer.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(kv_heads));
  writer.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(head_dim));
  writer.set_f32("llama.rope.freq_base", 500000.0f);
  writer.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  uint64_t seed = 1;
  const auto matrix = [&](const std::string& name, size_t rows, size_t cols) {
    return writer.add_tensor(name, DType::kBF16, Shape{static_cast<int64_t>(rows), static_cast<int64_t>(cols)},
                             random_matrix(rows, cols, 0.02f, seed++));
  };
  const auto vector = [&](const std::string& name, size_t n) {
    return writer.add_tensor(name, DType::kF32, Shape{static_cast<int64_t>(n)}, ones(n));
  };
  Status status = matrix("token_embd.weight", vocab, hidden);
  for (size_t layer = 0; layer < layers && status; ++layer) {
    const std::string p = "blk." + std::to_string(layer) + ".";
    status = vector(p + "attn_norm.weight", hidden);
    if (status) status = matrix(p + "attn_q.weight", heads * head_dim, hidden);
    if (status) status = matrix(p + "attn_k.weight", kv_heads * head_dim, hidden);
    if (status) status = matrix(p + "attn_v.weight", kv_heads * head_dim, hidden);
    if (status) status = matrix(p + "attn_output.weight", hidden, heads * head_dim);
    if (status) status = vector(p + "ffn_norm.weight", hidden);
    if (status) status = matrix(p + "ffn_gate.weight", ffn, hidden);
    if (status) status = matrix(p + "ffn_up.weight", ffn, hidden);
    if (status) status = matrix(p + "ffn_down.weight", hidden, ffn);
  }
  if (status) status = vector("output_norm.weight", hidden);
  if (status) status = writer.write(argv[1]);
  if (!status) {
    std::fprintf(stderr, "%s\n", status.error().to_string().c_str());
    return 1;
  }
  return 0;
}
