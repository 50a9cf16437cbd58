// Qwen3-MoE and DeepSeek V3 from the checkpoint layouts other than transformers 5's safetensors,
// each written from the fixture's own bf16 weights, so every layout must match transformers'
// logits as closely as the safetensors path does:
//  - per-expert safetensors (transformers 4): experts.{e}.gate_proj / up_proj / down_proj.weight;
//  - GGUF laid out as llama.cpp's converter lays it out: names from the tensor-name tables, the
//    fused experts.gate_up_proj split into stacked ffn_gate_exps / ffn_up_exps, and the
//    architecture's metadata keys, loaded through config_from_gguf and GgufSource (which serves the
//    stacked experts one expert at a time).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "backend/cpu/cpu_backend.h"
#include "decoder_checks.h"
#include "formats/gguf_config.h"
#include "formats/gguf_file.h"
#include "formats/gguf_writer.h"
#include "formats/hf_config.h"
#include "formats/safetensors_file.h"
#include "formats/safetensors_writer.h"
#include "formats/tensor_names.h"
#include "models/deepseek_v3_impl.h"
#include "models/gguf_source.h"
#include "models/qwen3_moe_impl.h"
#include "models/safetensors_source.h"
#include "reference_fixture.h"

namespace ferrum {
namespace {

// Adds every tensor of `fixture`'s model.safetensors under its GGUF name(s).
Status add_fixture_tensors(GgufWriter& writer, const SafetensorsFile& weights, ModelArch arch) {
  for (const SafetensorsTensorInfo& info : weights.tensors()) {
    const TensorView view = weights.tensor_view(info);
    const std::vector<TensorNameMapping> names = hf_to_gguf_tensor_names(arch, info.name);
    FERRUM_CHECK(!names.empty(), ErrorCode::kNotFound, "no GGUF name for ", info.name);
    for (const TensorNameMapping& mapping : names) {
      if (mapping.relation == TensorNameRelation::kSame) {
        FERRUM_TRY(writer.add_tensor(mapping.name, view));
        continue;
      }
      // gate_up_proj [experts, 2 x im, hidden]: the gate half or the up half of every expert.
      FERRUM_CHECK(mapping.relation == TensorNameRelation::kGateHalf || mapping.relation == TensorNameRelation::kUpHalf,
                   ErrorCode::kUnsupported, "unexpected relation for ", info.name);
      const int64_t experts = info.shape[0], rows = info.shape[1] / 2, cols = info.shape[2];
      const size_t half_bytes = view.nbytes() / static_cast<size_t>(experts) / 2;
      const size_t skip = mapping.relation == TensorNameRelation::kUpHalf ? half_bytes : 0;
      std::vector<uint8_t> bytes;
      const auto* data = static_cast<const uint8_t*>(view.data());
      for (int64_t e = 0; e < experts; ++e) {
        const uint8_t* start = data + static_cast<size_t>(e) * 2 * half_bytes + skip;
        bytes.insert(bytes.end(), start, start + half_bytes);
      }
      FERRUM_TRY(writer.add_tensor(mapping.name, info.dtype, Shape{experts, rows, cols}, std::move(bytes)));
    }
  }
  return ok();
}

std::filesystem::path temp_path(const std::string& fixture, const std::string& extension) {
  return std::filesystem::temp_directory_path() /
         ("ferrum_moe_" + fixture + "_" + std::to_string(::getpid()) + extension);
}

// Every tensor of the fixture, with the stacked experts.gate_up_proj / experts.down_proj written
// as one tensor per expert and projection.
Status add_per_expert_tensors(SafetensorsWriter& writer, const SafetensorsFile& weights) {
  const std::string gate_up = "mlp.experts.gate_up_proj", down = "mlp.experts.down_proj";
  for (const SafetensorsTensorInfo& info : weights.tensors()) {
    const TensorView view = weights.tensor_view(info);
    const bool is_gate_up = info.name.ends_with(gate_up), is_down = info.name.ends_with(down);
    if (!is_gate_up && !is_down) {
      FERRUM_TRY(writer.add_tensor(info.name, view));
      continue;
    }
    const std::string experts_prefix = info.name.substr(0, info.name.size() - (is_gate_up ? gate_up : down).size());
    const int64_t experts = info.shape[0], rows = info.shape[1], cols = info.shape[2];
    const size_t expert_bytes = view.nbytes() / static_cast<size_t>(experts);
    const auto* data = static_cast<const uint8_t*>(view.data());
    for (int64_t e = 0; e < experts; ++e) {
      const uint8_t* start = data + static_cast<size_t>(e) * expert_bytes;
      const std::string expert = experts_prefix + "mlp.experts." + std::to_string(e) + ".";
      if (is_down) {
        FERRUM_TRY(writer.add_tensor(expert + "down_proj.weight", info.dtype, Shape{rows, cols},
                                     std::vector<uint8_t>(start, start + expert_bytes)));
      } else {  // gate rows first, then up
        const size_t half = expert_bytes / 2;
        FERRUM_TRY(writer.add_tensor(expert + "gate_proj.weight", info.dtype, Shape{rows / 2, cols},
                                     std::vector<uint8_t>(start, start + half)));
        FERRUM_TRY(writer.add_tensor(expert + "up_proj.weight", info.dtype, Shape{rows / 2, cols},
                                     std::vector<uint8_t>(start + half, start + expert_bytes)));
      }
    }
  }
  return ok();
}

// Writes the fixture in the per-expert layout, loads it back as Model and checks the full forward.
template <class Model, class HParams>
void check_per_expert_safetensors(const std::string& fixture, Expected<HParams> (*hparams_of)(const ModelConfig&)) {
  auto weights = SafetensorsFile::open(testing::hf_tiny_dir(fixture) / "model.safetensors");
  ASSERT_TRUE(weights) << weights.error().to_string();
  SafetensorsWriter writer;
  Status added = add_per_expert_tensors(writer, *weights);
  ASSERT_TRUE(added) << added.error().to_string();
  const std::filesystem::path path = temp_path(fixture, ".safetensors");
  Status written = writer.write(path);
  ASSERT_TRUE(written) << written.error().to_string();

  auto config = load_hf_config(testing::hf_tiny_dir(fixture) / "config.json");
  ASSERT_TRUE(config) << config.error().to_string();
  auto hparams = hparams_of(*config);
  ASSERT_TRUE(hparams) << hparams.error().to_string();
  auto source = SafetensorsSource::open(path);
  ASSERT_TRUE(source) << source.error().to_string();
  ASSERT_FALSE((*source)->contains("model.layers.1.mlp.experts.gate_up_proj"));
  WeightLoader<CpuBackend> loader(**source, {});
  auto model = Model::load(*hparams, loader, 64, 128);
  ASSERT_TRUE(model) << model.error().to_string();
  const double error = testing::full_forward_error(fixture, *model);
  std::printf("%-12s per-expert safetensors: max |logit - reference| = %.3g\n", fixture.c_str(), error);
  EXPECT_LT(error, testing::kLogitTolerance);
  std::filesystem::remove(path);
}

void set_qwen3_moe_metadata(GgufWriter& w) {
  w.set_string("general.architecture", "qwen3moe");
  w.set_u32("qwen3moe.block_count", 2);
  w.set_u32("qwen3moe.context_length", 4096);
  w.set_u32("qwen3moe.embedding_length", 64);
  w.set_u32("qwen3moe.feed_forward_length", 160);
  w.set_u32("qwen3moe.attention.head_count", 4);
  w.set_u32("qwen3moe.attention.head_count_kv", 2);
  w.set_u32("qwen3moe.attention.key_length", 16);
  w.set_u32("qwen3moe.attention.value_length", 16);
  w.set_f32("qwen3moe.rope.freq_base", 1000000.0f);
  w.set_f32("qwen3moe.attention.layer_norm_rms_epsilon", 1e-6f);
  w.set_u32("qwen3moe.expert_count", 8);
  w.set_u32("qwen3moe.expert_used_count", 2);
  w.set_u32("qwen3moe.expert_feed_forward_length", 32);
}

void set_deepseek_v3_metadata(GgufWriter& w) {
  w.set_string("general.architecture", "deepseek2");
  w.set_u32("deepseek2.block_count", 3);
  w.set_u32("deepseek2.context_length", 2048);
  w.set_u32("deepseek2.embedding_length", 64);
  w.set_u32("deepseek2.feed_forward_length", 128);
  w.set_u32("deepseek2.attention.head_count", 4);
  w.set_u32("deepseek2.attention.head_count_kv", 4);
  w.set_u32("deepseek2.attention.key_length", 24);
  w.set_u32("deepseek2.attention.value_length", 16);
  w.set_u32("deepseek2.attention.q_lora_rank", 32);
  w.set_u32("deepseek2.attention.kv_lora_rank", 16);
  w.set_u32("deepseek2.rope.dimension_count", 8);
  w.set_f32("deepseek2.rope.freq_base", 10000.0f);
  w.set_string("deepseek2.rope.scaling.type", "yarn");
  w.set_f32("deepseek2.rope.scaling.factor", 4.0f);
  w.set_u32("deepseek2.rope.scaling.original_context_length", 512);
  w.set_f32("deepseek2.rope.scaling.yarn_log_multiplier", 0.1f);
  w.set_f32("deepseek2.attention.layer_norm_rms_epsilon", 1e-6f);
  w.set_u32("deepseek2.leading_dense_block_count", 1);
  w.set_u32("deepseek2.expert_count", 8);
  w.set_u32("deepseek2.expert_used_count", 2);
  w.set_u32("deepseek2.expert_shared_count", 1);
  w.set_u32("deepseek2.expert_feed_forward_length", 32);
  w.set_f32("deepseek2.expert_weights_scale", 2.5f);
  w.set_bool("deepseek2.expert_weights_norm", true);
  w.set_u32("deepseek2.expert_gating_func", 2);
  w.set_u32("deepseek2.expert_group_count", 2);
  w.set_u32("deepseek2.expert_group_used_count", 1);
}

// Writes the fixture as GGUF, loads it back as Model and checks the full forward.
template <class Model, class HParams>
void check_from_gguf(const std::string& fixture, ModelArch arch, void (*set_metadata)(GgufWriter&),
                     Expected<HParams> (*hparams_of)(const ModelConfig&)) {
  auto weights = SafetensorsFile::open(testing::hf_tiny_dir(fixture) / "model.safetensors");
  ASSERT_TRUE(weights) << weights.error().to_string();
  GgufWriter writer;
  set_metadata(writer);
  Status added = add_fixture_tensors(writer, *weights, arch);
  ASSERT_TRUE(added) << added.error().to_string();
  const std::filesystem::path path = temp_path(fixture, ".gguf");
  Status written = writer.write(path);
  ASSERT_TRUE(written) << written.error().to_string();

  auto file = GgufFile::open(path);
  ASSERT_TRUE(file) << file.error().to_string();
  auto config = config_from_gguf(*file);
  ASSERT_TRUE(config) << config.error().to_string();
  auto hparams = hparams_of(*config);
  ASSERT_TRUE(hparams) << hparams.error().to_string();
  auto source = GgufSource::open(path, *config);
  ASSERT_TRUE(source) << source.error().to_string();
  WeightLoader<CpuBackend> loader(**source, {});
  auto model = Model::load(*hparams, loader, 64, 128);
  ASSERT_TRUE(model) << model.error().to_string();
  const double error = testing::full_forward_error(fixture, *model);
  std::printf("%-12s from GGUF: max |logit - reference| = %.3g\n", fixture.c_str(), error);
  EXPECT_LT(error, testing::kLogitTolerance);
  std::filesystem::remove(path);
}

TEST(MoePerExpertSafetensors, Qwen3MoeMatchesTransformers) {
  check_per_expert_safetensors<Qwen3MoeModel<CpuBackend>>("qwen3_moe", &qwen3_moe_hparams);
}

TEST(MoePerExpertSafetensors, DeepseekV3MatchesTransformers) {
  check_per_expert_safetensors<DeepseekV3Model<CpuBackend>>("deepseek_v3", &deepseek_v3_hparams);
}

TEST(MoeFromGguf, Qwen3MoeStackedExpertsMatchTransformers) {
  check_from_gguf<Qwen3MoeModel<CpuBackend>>("qwen3_moe", ModelArch::kQwen3Moe, &set_qwen3_moe_metadata,
                                             &qwen3_moe_hparams);
}

TEST(MoeFromGguf, DeepseekV3MatchesTransformers) {
  check_from_gguf<DeepseekV3Model<CpuBackend>>("deepseek_v3", ModelArch::kDeepseekV3, &set_deepseek_v3_metadata,
                                               &deepseek_v3_hparams);
}

}  // namespace
}  // namespace ferrum
