// gen-model: every tiny preset in every dtype loads and runs (the CausalLm forward that `ferrum
// run` uses), GGUF files carry the recipe's types, GPTQ / AWQ packing passes src/quant's checks,
// and the bytes depend only on the seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/generator.h"
#include "engine/model_bundle.h"
#include "formats/gguf_file.h"
#include "formats/safetensors_file.h"
#include "models/causal_lm_factory.h"
#include "quant/awq.h"
#include "quant/gptq.h"
#include "synth/gen_model.h"
#include "temp_dir.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/loader.h"

namespace ferrum {
namespace {

using bench_test::TempDir;

struct Case {
  const char* preset;
  const char* dtype;
  bool gguf;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = std::string(info.param.preset) + "_" + info.param.dtype + (info.param.gguf ? "_gguf" : "_hf");
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

std::filesystem::path output_for(const TempDir& dir, const Case& c) {
  return c.gguf ? dir.path() / "model.gguf" : dir.path() / "model";
}

class GeneratedModel : public ::testing::TestWithParam<Case> {};

TEST_P(GeneratedModel, LoadsAndRunsAForwardPassWithFiniteLogits) {
  const Case c = GetParam();
  TempDir dir;
  synth::GenModelOptions options;
  options.preset = c.preset;
  options.dtype = c.dtype;
  options.out = output_for(dir, c);
  options.threads = 2;
  auto written = synth::generate_model(options);
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_GT(written->bytes, 0u);

  auto files = open_model_files(options.out.string());
  ASSERT_TRUE(files) << files.error().message();
  auto model = create_cpu_causal_lm(*files, ModelRuntimeOptions{.max_context = 64, .max_batch_tokens = 16});
  ASSERT_TRUE(model) << model.error().message();
  auto state = (*model)->new_sequence(32);
  ASSERT_TRUE(state) << state.error().message();
  const std::vector<uint32_t> tokens = {1, 17, 300, 42, 5};
  auto logits = (*model)->forward(**state, tokens);
  ASSERT_TRUE(logits) << logits.error().message();
  ASSERT_EQ(logits->size(), 512u);
  float largest = 0;
  for (float value : *logits) {
    ASSERT_TRUE(std::isfinite(value));
    largest = std::max(largest, std::fabs(value));
  }
  EXPECT_GT(largest, 0.0f) << "random weights should give non-zero logits";
  EXPECT_GT((*model)->info().weight_bytes, 0u);
}

INSTANTIATE_TEST_SUITE_P(EveryPresetAndDtype, GeneratedModel,
                         ::testing::Values(Case{"tiny-llama", "bf16", false}, Case{"tiny-llama", "f16", false},
                                           Case{"tiny-llama", "f32", false}, Case{"tiny-llama", "gptq-int4", false},
                                           Case{"tiny-llama", "awq-int4", false}, Case{"tiny-llama", "bf16", true},
                                           Case{"tiny-llama", "f16", true}, Case{"tiny-llama", "Q8_0", true},
                                           Case{"tiny-llama", "Q4_K_M", true}, Case{"tiny-llama-tied", "Q4_K_M", true},
                                           Case{"tiny-mistral", "bf16", false}, Case{"tiny-mistral", "Q4_K_M", true},
                                           Case{"tiny-qwen3", "bf16", false}, Case{"tiny-qwen3", "gptq-int4", false},
                                           Case{"tiny-qwen3", "Q8_0", true}, Case{"tiny-qwen3-moe", "bf16", false},
                                           Case{"tiny-qwen3-moe", "awq-int4", false},
                                           Case{"tiny-qwen3-moe", "Q4_K_M", true}, Case{"tiny-gemma3", "bf16", false},
                                           Case{"tiny-gemma3", "Q8_0", true}),
                         case_name);

// `ferrum run` end to end: the bundle (tokenizer, chat template, end tokens) and the generator.
TEST(GeneratedModelRun, GeneratesTextThroughTheBundleForHfAndGguf) {
  for (const char* out : {"model", "model.gguf"}) {
    TempDir dir;
    synth::GenModelOptions options;
    options.preset = "tiny-llama";
    options.dtype = std::string(out).ends_with(".gguf") ? "Q8_0" : "bf16";
    options.out = dir.path() / out;
    ASSERT_TRUE(synth::generate_model(options));
    ModelOptions model_options;
    model_options.model = options.out.string();
    model_options.context = 128;
    auto bundle = load_model_bundle(model_options);
    ASSERT_TRUE(bundle) << out << ": " << bundle.error().message();
    EXPECT_EQ(bundle->tokenizer->vocab().size(), 512u);
    auto rendered =
        bundle->render_chat({.messages = {{{"role", "user"}, {"content", "hi"}}}, .add_generation_prompt = true});
    ASSERT_TRUE(rendered) << rendered.error().message();
    EXPECT_NE(rendered->find("<|im_start|>assistant"), std::string::npos);
    const std::vector<int32_t> prompt = bundle->tokenizer->encode("the quick brown fox");
    ASSERT_FALSE(prompt.empty());
    auto state = bundle->model->new_sequence(64);
    ASSERT_TRUE(state);
    Generator generator(*bundle->model, *bundle->tokenizer);
    GenerationRequest request;
    request.prompt = prompt;
    request.max_new_tokens = 6;
    request.sampling.temperature = 0;
    request.ignore_eos = true;
    auto result = generator.generate(**state, request, nullptr);
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ(result->tokens.size(), 6u);
  }
}

TEST(GeneratedModelTokenizer, RoundTripsTextThroughTheMadeUpVocabulary) {
  TempDir dir;
  synth::GenModelOptions options;
  options.preset = "tiny-qwen3";
  options.out = dir.path() / "model";
  ASSERT_TRUE(synth::generate_model(options));
  auto tokenizer = tokenizer::load_tokenizer(options.out);
  ASSERT_TRUE(tokenizer) << tokenizer.error().message();
  const std::string text = "Hello world, 42 times!\n";
  const std::vector<int32_t> ids = (*tokenizer)->encode(text, {.add_special = false});
  EXPECT_LT(ids.size(), text.size()) << "merges should join letters";
  auto decoded = tokenizer::decode((*tokenizer)->vocab(), ids);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, text);
}

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

TEST(GeneratedModelDeterminism, SameSeedSameBytesWhateverTheThreadCount) {
  TempDir dir;
  synth::GenModelOptions options;
  options.preset = "tiny-qwen3-moe";
  options.dtype = "Q4_K_M";
  options.out = dir.path() / "a.gguf";
  options.threads = 1;
  ASSERT_TRUE(synth::generate_model(options));
  options.out = dir.path() / "b.gguf";
  options.threads = 3;
  ASSERT_TRUE(synth::generate_model(options));
  options.out = dir.path() / "c.gguf";
  options.seed = 7;
  ASSERT_TRUE(synth::generate_model(options));
  EXPECT_EQ(file_bytes(dir.path() / "a.gguf"), file_bytes(dir.path() / "b.gguf"));
  EXPECT_NE(file_bytes(dir.path() / "a.gguf"), file_bytes(dir.path() / "c.gguf"));
}

TEST(GeneratedModelFiles, RefusesToOverwriteWithoutForceAndRejectsMismatchedDtypes) {
  TempDir dir;
  synth::GenModelOptions options;
  options.preset = "tiny-llama";
  options.out = dir.path() / "m.gguf";
  ASSERT_TRUE(synth::generate_model(options));
  auto again = synth::generate_model(options);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("--force"), std::string::npos);
  options.force = true;
  EXPECT_TRUE(synth::generate_model(options));

  options.dtype = "gptq-int4";
  auto gptq_gguf = synth::generate_model(options);
  ASSERT_FALSE(gptq_gguf);
  EXPECT_NE(gptq_gguf.error().message().find("without .gguf"), std::string::npos);
  options.dtype = "Q4_K_M";
  options.out = dir.path() / "dir";
  auto q4_dir = synth::generate_model(options);
  ASSERT_FALSE(q4_dir);
  EXPECT_NE(q4_dir.error().message().find(".gguf"), std::string::npos);
  options.preset = "no-such-preset";
  auto unknown = synth::generate_model(options);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("llama3.1-8b"), std::string::npos) << unknown.error().message();
}

TEST(GeneratedModelFiles, ShardsLikeTransformersAndStillLoads) {
  TempDir dir;
  synth::GenModelOptions options;
  options.preset = "tiny-llama";
  options.out = dir.path() / "sharded";
  options.shard_bytes = 400'000;  // the tiny model is ~1.3 MB in bf16
  auto written = synth::generate_model(options);
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_GE(written->shards, 3u);
  EXPECT_TRUE(std::filesystem::exists(options.out / "model.safetensors.index.json"));
  char first_shard[64];
  std::snprintf(first_shard, sizeof first_shard, "model-00001-of-%05zu.safetensors", written->shards);
  EXPECT_TRUE(std::filesystem::exists(options.out / first_shard));
  auto files = open_model_files(options.out.string());
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_TRUE(create_cpu_causal_lm(*files, ModelRuntimeOptions{.max_context = 32}));
}

TEST(GeneratedGguf, CarriesTheQ4KMRecipeAndLlamaCppMetadata) {
  TempDir dir;
  synth::GenModelOptions options;
  options.preset = "tiny-llama";
  options.dtype = "Q4_K_M";
  options.out = dir.path() / "m.gguf";
  ASSERT_TRUE(synth::generate_model(options));
  auto gguf = GgufFile::open(options.out);
  ASSERT_TRUE(gguf) << gguf.error().message();
  const auto type_of = [&](const char* name) {
    const GgufTensorInfo* info = gguf->find_tensor(name);
    return info ? info->dtype : DType::kU8;
  };
  // Two layers: layer 1 is in the last eighth, so it gets the extra bits; layer 0 does not.
  EXPECT_EQ(type_of("output.weight"), DType::kQ6_K);
  EXPECT_EQ(type_of("token_embd.weight"), DType::kQ4_K);
  EXPECT_EQ(type_of("blk.0.attn_v.weight"), DType::kQ4_K);
  EXPECT_EQ(type_of("blk.1.attn_v.weight"), DType::kQ6_K);
  EXPECT_EQ(type_of("blk.0.ffn_down.weight"), DType::kQ4_K);
  EXPECT_EQ(type_of("blk.1.ffn_down.weight"), DType::kQ6_K);
  EXPECT_EQ(type_of("blk.0.attn_q.weight"), DType::kQ4_K);
  EXPECT_EQ(type_of("blk.0.attn_norm.weight"), DType::kF32);
  EXPECT_EQ(type_of("rope_freqs.weight"), DType::kF32);
  EXPECT_EQ(gguf->get_uint_or("general.file_type", 0).value_or(0), 15u);
  EXPECT_EQ(gguf->get_string_or("general.architecture", "").value_or(""), "llama");
  EXPECT_EQ(gguf->get_string_or("tokenizer.ggml.model", "").value_or(""), "gpt2");
  EXPECT_EQ(gguf->get_uint_or("llama.block_count", 0).value_or(0), 2u);
}

TEST(GeneratedGguf, TiedEmbeddingsMakeTheTokenEmbeddingTheQ6KOutput) {
  TempDir dir;
  synth::GenModelOptions options;
  options.preset = "tiny-qwen3";
  options.dtype = "Q4_K_M";
  options.out = dir.path() / "m.gguf";
  ASSERT_TRUE(synth::generate_model(options));
  auto gguf = GgufFile::open(options.out);
  ASSERT_TRUE(gguf);
  EXPECT_EQ(gguf->find_tensor("output.weight"), nullptr);
  ASSERT_NE(gguf->find_tensor("token_embd.weight"), nullptr);
  EXPECT_EQ(gguf->find_tensor("token_embd.weight")->dtype, DType::kQ6_K);
}

std::string gguf_tensor_bytes(const GgufFile& file, const std::string& name) {
  const GgufTensorInfo* info = file.find_tensor(name);
  EXPECT_NE(info, nullptr) << name;
  if (info == nullptr) return {};
  const TensorView view = file.tensor_view(*info);
  return std::string(static_cast<const char*>(view.data()), view.nbytes());
}

// How many bytes differ (a size mismatch counts every byte of the longer one past the shorter).
size_t differing_bytes(const std::string& a, const std::string& b) {
  size_t count = std::max(a.size(), b.size()) - std::min(a.size(), b.size());
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) count += a[i] != b[i];
  return count;
}

// --repeat-first-layer: layer 1's tensors of layer 0's type are layer 0's bytes, the recipe's Q6_K
// attn_v / ffn_down of layer 1 are generated, everything else is what the default writes, and the
// model still loads and runs.
TEST(GeneratedGguf, RepeatFirstLayerCopiesLayerZerosBytesWhereTypesMatch) {
  TempDir dir;
  synth::GenModelOptions options;
  options.preset = "tiny-llama";
  options.dtype = "Q4_K_M";
  options.out = dir.path() / "fresh.gguf";
  auto fresh = synth::generate_model(options);
  ASSERT_TRUE(fresh) << fresh.error().message();
  options.out = dir.path() / "repeated.gguf";
  options.repeat_first_layer = true;
  uint64_t last_done = 0, last_total = 0;
  auto repeated = synth::generate_model(options, [&](uint64_t done, uint64_t total) {
    last_done = done;
    last_total = total;
  });
  ASSERT_TRUE(repeated) << repeated.error().message();
  // Of tiny-llama's 9 tensors in layer 1, attn_v and ffn_down are Q6_K there and Q4_K in layer 0.
  EXPECT_EQ(repeated->copied_tensors, 7u);
  EXPECT_EQ(fresh->copied_tensors, 0u);
  EXPECT_EQ(repeated->bytes, fresh->bytes);
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(last_total, repeated->bytes);

  auto fresh_gguf = GgufFile::open(dir.path() / "fresh.gguf");
  ASSERT_TRUE(fresh_gguf) << fresh_gguf.error().message();
  auto gguf = GgufFile::open(options.out);
  ASSERT_TRUE(gguf) << gguf.error().message();
  EXPECT_EQ(gguf->get_uint_or("llama.block_count", 0).value_or(0), 2u);
  for (const char* suffix : {"attn_q.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight"}) {
    const std::string layer0 = std::string("blk.0.") + suffix;
    const std::string layer1 = std::string("blk.1.") + suffix;
    ASSERT_EQ(gguf->find_tensor(layer1)->dtype, DType::kQ4_K) << layer1;
    const std::string bytes0 = gguf_tensor_bytes(*gguf, layer0);
    ASSERT_FALSE(bytes0.empty()) << layer0;
    EXPECT_EQ(differing_bytes(gguf_tensor_bytes(*gguf, layer1), bytes0), 0u)
        << layer1 << " should copy " << layer0 << " (" << bytes0.size() << " bytes)";
    EXPECT_GT(differing_bytes(gguf_tensor_bytes(*fresh_gguf, layer1), gguf_tensor_bytes(*fresh_gguf, layer0)),
              bytes0.size() / 2)
        << "without the flag " << layer1 << " is drawn from its own stream";
    EXPECT_EQ(differing_bytes(gguf_tensor_bytes(*fresh_gguf, layer0), bytes0), 0u)
        << "layer 0 is what the default writes";
  }
  for (const char* name : {"blk.1.attn_v.weight", "blk.1.ffn_down.weight", "token_embd.weight", "output.weight"}) {
    EXPECT_EQ(differing_bytes(gguf_tensor_bytes(*gguf, name), gguf_tensor_bytes(*fresh_gguf, name)), 0u)
        << name << " is generated as without the flag";
  }

  auto files = open_model_files(options.out.string());
  ASSERT_TRUE(files) << files.error().message();
  auto model = create_cpu_causal_lm(*files, ModelRuntimeOptions{.max_context = 32});
  ASSERT_TRUE(model) << model.error().message();
  auto state = (*model)->new_sequence(16);
  ASSERT_TRUE(state) << state.error().message();
  const std::vector<uint32_t> tokens = {1, 17, 300};
  auto logits = (*model)->forward(**state, tokens);
  ASSERT_TRUE(logits) << logits.error().message();
  for (float value : *logits) ASSERT_TRUE(std::isfinite(value));
}

TensorView view_of(const SafetensorsFile& file, const std::string& name) {
  const auto* info = file.find_tensor(name);
  EXPECT_NE(info, nullptr) << name;
  return info ? file.tensor_view(*info) : TensorView();
}

TEST(GeneratedPackedWeights, GptqAndAwqLayersPassTheQuantChecks) {
  TempDir dir;
  for (const char* dtype : {"gptq-int4", "awq-int4"}) {
    synth::GenModelOptions options;
    options.preset = "tiny-llama";
    options.dtype = dtype;
    options.out = dir.path() / dtype;
    ASSERT_TRUE(synth::generate_model(options));
    auto file = SafetensorsFile::open(options.out / "model.safetensors");
    ASSERT_TRUE(file) << file.error().message();
    const std::string layer = "model.layers.1.mlp.down_proj";  // [256, 512]: 4 groups of 128 inputs
    std::vector<float> weight(256 * 512);
    if (std::string(dtype) == "gptq-int4") {
      quant::GptqTensors tensors{view_of(*file, layer + ".qweight"), view_of(*file, layer + ".qzeros"),
                                 view_of(*file, layer + ".scales"), view_of(*file, layer + ".g_idx")};
      auto shape = quant::validate_gptq(quant::GptqParams{}, tensors);
      ASSERT_TRUE(shape) << shape.error().message();
      EXPECT_EQ(shape->out_features, 256u);
      EXPECT_EQ(shape->in_features, 512u);
      ASSERT_TRUE(quant::dequantize_gptq(quant::GptqParams{}, tensors, weight));
    } else {
      quant::AwqTensors tensors{view_of(*file, layer + ".qweight"), view_of(*file, layer + ".qzeros"),
                                view_of(*file, layer + ".scales")};
      auto shape = quant::validate_awq(quant::AwqParams{}, tensors);
      ASSERT_TRUE(shape) << shape.error().message();
      EXPECT_EQ(shape->groups, 4u);
      ASSERT_TRUE(quant::dequantize_awq(quant::AwqParams{}, tensors, weight));
    }
    // About zero with the float presets' spread (std ~0.02); nibbles 0..15 around a zero point of 8
    // average half a step below zero (-0.002), as in real 4-bit checkpoints.
    double sum = 0, squares = 0;
    for (float w : weight) {
      sum += w;
      squares += static_cast<double>(w) * w;
    }
    const double mean = sum / weight.size();
    const double sd = std::sqrt(squares / weight.size() - mean * mean);
    EXPECT_NEAR(mean, -0.00215, 0.0005) << dtype;
    EXPECT_NEAR(sd, 0.02, 0.005) << dtype;
    // Unquantized tensors stay f16, as AutoGPTQ / AutoAWQ checkpoints keep them.
    EXPECT_EQ(view_of(*file, "model.embed_tokens.weight").dtype(), DType::kF16);
  }
}

// The HF path too, through packed GPTQ names (model.layers.N.mlp.down_proj.qweight).
TEST(GeneratedPackedWeights, RepeatFirstLayerCopiesLayerZeroInSafetensors) {
  TempDir dir;
  synth::GenModelOptions options;
  options.preset = "tiny-llama";
  options.dtype = "gptq-int4";
  options.out = dir.path() / "repeated";
  options.repeat_first_layer = true;
  auto written = synth::generate_model(options);
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_GT(written->copied_tensors, 0u);
  auto file = SafetensorsFile::open(options.out / "model.safetensors");
  ASSERT_TRUE(file) << file.error().message();
  for (const char* suffix : {"mlp.down_proj.qweight", "mlp.down_proj.scales", "self_attn.q_proj.qweight"}) {
    const TensorView layer0 = view_of(*file, std::string("model.layers.0.") + suffix);
    const TensorView layer1 = view_of(*file, std::string("model.layers.1.") + suffix);
    ASSERT_EQ(layer0.nbytes(), layer1.nbytes()) << suffix;
    EXPECT_EQ(std::memcmp(layer0.data(), layer1.data(), layer0.nbytes()), 0) << suffix;
  }
  auto files = open_model_files(options.out.string());
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_TRUE(create_cpu_causal_lm(*files, ModelRuntimeOptions{.max_context = 32}));
}

}  // namespace
}  // namespace ferrum
