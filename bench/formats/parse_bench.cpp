// How long opening a model file's metadata takes. The target (docs/formats.md): the metadata of a
// GGUF with a 150k-token vocabulary parses in under 100 ms. Vocabularies are synthetic (Qwen2-sized:
// 151936 tokens, as many merges, scores and token types), built once with GgufWriter.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "formats/gguf_file.h"
#include "formats/gguf_writer.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"

namespace ferrum {
namespace {

constexpr size_t kVocab = 151936;

const std::vector<uint8_t>& vocab_gguf() {
  static const std::vector<uint8_t> bytes = [] {
    std::vector<std::string> tokens(kVocab);
    std::vector<std::string> merges(kVocab);
    std::vector<float> scores(kVocab);
    std::vector<int32_t> types(kVocab, 1);
    for (size_t i = 0; i < kVocab; ++i) {
      tokens[i].append("token").append(std::to_string(i));
      merges[i].append("tok").append(std::to_string(i % 997)).append(" en").append(std::to_string(i));
      scores[i] = -static_cast<float>(i);
    }
    GgufWriter writer;
    writer.set_string("general.architecture", "qwen2");
    writer.set_string("tokenizer.ggml.model", "gpt2");
    writer.set_string("tokenizer.ggml.pre", "qwen2");
    writer.set_string_array("tokenizer.ggml.tokens", tokens);
    writer.set_array<float>("tokenizer.ggml.scores", scores);
    writer.set_array<int32_t>("tokenizer.ggml.token_type", types);
    writer.set_string_array("tokenizer.ggml.merges", merges);
    writer.set_u32("tokenizer.ggml.eos_token_id", 151645);
    return *writer.to_bytes();
  }();
  return bytes;
}

// Parse only: the bytes are already in memory.
void BM_GgufMetadata150kVocab(benchmark::State& state) {
  auto mapping = MappedFile::from_bytes(vocab_gguf(), "vocab.gguf");
  for (auto _ : state) {
    auto file = GgufFile::parse(mapping);
    if (!file) state.SkipWithError(file.error().to_string().c_str());
    benchmark::DoNotOptimize(file);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * vocab_gguf().size()));
}
BENCHMARK(BM_GgufMetadata150kVocab)->Unit(benchmark::kMillisecond);

// open(): mmap + parse of a file in the page cache.
void BM_GgufOpen150kVocab(benchmark::State& state) {
  const auto path =
      std::filesystem::temp_directory_path() / ("ferrum-bench-vocab-" + std::to_string(getpid()) + ".gguf");
  FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr || std::fwrite(vocab_gguf().data(), 1, vocab_gguf().size(), out) != vocab_gguf().size()) {
    state.SkipWithError("cannot write the benchmark file");
    return;
  }
  std::fclose(out);
  for (auto _ : state) {
    auto file = GgufFile::open(path);
    if (!file) state.SkipWithError(file.error().to_string().c_str());
    benchmark::DoNotOptimize(file);
  }
  std::filesystem::remove(path);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * vocab_gguf().size()));
}
BENCHMARK(BM_GgufOpen150kVocab)->Unit(benchmark::kMillisecond);

// A large checkpoint's header: 2000 tensors (a 64-layer model with ~30 tensors per layer).
void BM_SafetensorsHeader2000Tensors(benchmark::State& state) {
  static const std::vector<uint8_t> bytes = [] {
    SafetensorsWriter writer;
    for (int i = 0; i < 2000; ++i) {
      const std::string name =
          "model.layers." + std::to_string(i / 30) + ".tensor_" + std::to_string(i % 30) + ".weight";
      (void)writer.add_tensor(name, DType::kBF16, Shape{4, 4}, std::vector<uint8_t>(32));
    }
    return *writer.to_bytes();
  }();
  auto mapping = MappedFile::from_bytes(bytes, "model.safetensors");
  for (auto _ : state) {
    auto file = SafetensorsFile::parse(mapping);
    if (!file) state.SkipWithError(file.error().to_string().c_str());
    benchmark::DoNotOptimize(file);
  }
}
BENCHMARK(BM_SafetensorsHeader2000Tensors)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ferrum
