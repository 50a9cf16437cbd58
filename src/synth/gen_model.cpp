#include "synth/gen_model.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>

#include "formats/byte_sink.h"
#include "formats/safetensors_writer.h"
#include "quant/quant_recipe.h"
#include "synth/preset_config.h"
#include "synth/tensor_content.h"
#include "synth/weight_plan.h"

namespace ferrum::synth {
namespace {

// Packed 4-bit weights (q - 8) * scale have the std of the float presets when the per-group scale is
// kInitStd / 4.64 (the std of a uniform nibble around 8).
constexpr float kPackedScale = kInitStd / 4.64f;

struct DtypeChoice {
  bool gguf = false;
  std::optional<quant::QuantRecipe> recipe;  // GGUF: the per-tensor types; nullopt = all f32
  uint32_t gguf_file_type = 0;               // GGUF: general.file_type
  DType dense = DType::kBF16;                // HF: every float tensor
  PackedQuant packed = PackedQuant::kNone;   // HF: layer linears packed
  std::string torch_dtype = "bfloat16";
};

Expected<DtypeChoice> choose_dtype(const std::string& name, bool gguf_output) {
  DtypeChoice choice;
  choice.gguf = gguf_output;
  if (name == "gptq-int4" || name == "awq-int4") {
    FERRUM_CHECK(!gguf_output, ErrorCode::kInvalidArgument, "--dtype ", name,
                 " writes a Hugging Face directory: give OUT without .gguf");
    choice.packed = name == "gptq-int4" ? PackedQuant::kGptqInt4 : PackedQuant::kAwqInt4;
    choice.dense = DType::kF16;  // what AutoGPTQ / AutoAWQ checkpoints keep unquantized tensors in
    choice.torch_dtype = "float16";
    return choice;
  }
  if (name == "f32" || name == "F32") {
    choice.dense = DType::kF32;
    choice.torch_dtype = "float32";
    return choice;
  }
  auto recipe = quant::parse_quant_recipe(name);
  FERRUM_CHECK(recipe.has_value(), ErrorCode::kInvalidArgument, "--dtype '", name,
               "' is not one of bf16, f16, f32, Q8_0, Q4_K_M, Q5_K_M, Q6_K, Q4_0, gptq-int4, awq-int4");
  const bool float_type = *recipe == quant::QuantRecipe::kF16 || *recipe == quant::QuantRecipe::kBF16;
  FERRUM_CHECK(gguf_output || float_type, ErrorCode::kInvalidArgument, "--dtype ", name,
               " is a GGUF type: name OUT with a .gguf extension");
  choice.recipe = *recipe;
  choice.gguf_file_type = quant::gguf_file_type(*recipe);
  if (*recipe == quant::QuantRecipe::kF16) {
    choice.dense = DType::kF16;
    choice.torch_dtype = "float16";
  }
  return choice;
}

TensorSpec normal_or_init(const PlannedTensor& planned, DType dtype, const ModelPreset& preset, uint64_t stream) {
  TensorSpec spec;
  spec.name = planned.name;
  spec.dtype = dtype;
  spec.shape = planned.shape;
  spec.stream = stream;
  switch (planned.init) {
    case WeightInit::kNormal:
      spec.content = TensorContent::kNormal;
      spec.scale = kInitStd;
      break;
    case WeightInit::kOnes:
      spec.content = TensorContent::kConstant;
      spec.scale = 1.0f;
      break;
    case WeightInit::kZeros:
      spec.content = TensorContent::kConstant;
      spec.scale = 0.0f;
      break;
    case WeightInit::kRopeFactors:
      spec.content = TensorContent::kValues;
      spec.values = llama3_rope_factors(preset);
      break;
  }
  return spec;
}

// A linear layer "prefix.weight" [N, K] as GPTQ (qweight [K/8, N], qzeros [G, N/8], scales [G, N],
// g_idx [K]; v1 zero points stored minus one: 7 for a symmetric 4-bit zero of 8) or AWQ GEMM
// (qweight [K, N/8], qzeros [G, N/8] storing 8, scales [G, N]).
Expected<std::vector<TensorSpec>> packed_layer(const PlannedTensor& planned, PackedQuant packed, uint64_t stream) {
  const std::string suffix = ".weight";
  FERRUM_CHECK(planned.name.ends_with(suffix) && planned.shape.rank() == 2, ErrorCode::kInternal, "tensor '",
               planned.name, "' is not a linear weight");
  const std::string prefix = planned.name.substr(0, planned.name.size() - suffix.size());
  const auto n = planned.shape[0];
  const auto k = planned.shape[1];
  const auto group = static_cast<int64_t>(kPackedGroupSize);
  FERRUM_CHECK(k % group == 0 && n % 8 == 0, ErrorCode::kShapeMismatch, "tensor '", planned.name, "' ",
               planned.shape.to_string(), " cannot be packed in groups of ", group, " input channels");
  const int64_t groups = k / group;
  std::vector<TensorSpec> specs;
  const auto add = [&](const char* name, DType dtype, Shape shape, TensorContent content) -> TensorSpec& {
    TensorSpec spec;
    spec.name = prefix + name;
    spec.dtype = dtype;
    spec.shape = shape;
    spec.content = content;
    spec.stream = stream * 8 + 1 + specs.size();  // distinct from every tensor's own stream * 8
    specs.push_back(std::move(spec));
    return specs.back();
  };
  if (packed == PackedQuant::kGptqInt4) {
    add(".qweight", DType::kI32, Shape{k / 8, n}, TensorContent::kRandomWords);
    add(".qzeros", DType::kI32, Shape{groups, n / 8}, TensorContent::kConstantWord).word = 0x77777777u;
    add(".scales", DType::kF16, Shape{groups, n}, TensorContent::kGroupScales).scale = kPackedScale;
    add(".g_idx", DType::kI32, Shape{k}, TensorContent::kGroupIndex).group_size = kPackedGroupSize;
  } else {
    add(".qweight", DType::kI32, Shape{k, n / 8}, TensorContent::kRandomWords);
    add(".qzeros", DType::kI32, Shape{groups, n / 8}, TensorContent::kConstantWord).word = 0x88888888u;
    add(".scales", DType::kF16, Shape{groups, n}, TensorContent::kGroupScales).scale = kPackedScale;
  }
  return specs;
}

Expected<std::vector<TensorSpec>> hf_tensor_specs(const ModelPreset& preset, const DtypeChoice& choice) {
  std::vector<TensorSpec> specs;
  const std::vector<PlannedTensor> plan = plan_weights(preset, WeightLayout::kHuggingFace);
  for (size_t i = 0; i < plan.size(); ++i) {
    if (choice.packed != PackedQuant::kNone && plan[i].is_layer_linear) {
      FERRUM_ASSIGN_OR_RETURN(std::vector<TensorSpec> packed, packed_layer(plan[i], choice.packed, i));
      for (TensorSpec& spec : packed) specs.push_back(std::move(spec));
    } else {
      specs.push_back(normal_or_init(plan[i], choice.dense, preset, i * 8));
    }
  }
  return specs;
}

Expected<std::vector<TensorSpec>> gguf_tensor_specs(const ModelPreset& preset, const DtypeChoice& choice) {
  std::vector<TensorSpec> specs;
  const std::vector<PlannedTensor> plan = plan_weights(preset, WeightLayout::kGguf);
  for (size_t i = 0; i < plan.size(); ++i) {
    const Shape& shape = plan[i].shape;
    DType dtype = DType::kF32;
    if (choice.recipe) {
      const quant::TensorSlot slot = quant::classify_tensor(plan[i].name, shape.rank(), preset.tie_word_embeddings);
      dtype = quant::recipe_tensor_type(*choice.recipe, slot, static_cast<size_t>(shape[shape.rank() - 1]),
                                        preset.num_layers);
    }
    specs.push_back(normal_or_init(plan[i], dtype, preset, i * 8));
  }
  return specs;
}

Status write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary);
  file << text;
  FERRUM_CHECK(file.good(), ErrorCode::kIo, "cannot write ", path.string());
  return ok();
}

// Where the tokenizer comes from: a made-up vocabulary, or the user's tokenizer.json.
Expected<BpeVocab> tokenizer_vocab(const GenModelOptions& options, const ModelPreset& preset,
                                   std::optional<std::filesystem::path>& tokenizer_json) {
  if (!options.tokenizer) return make_synthetic_vocab(preset.vocab_size);
  std::filesystem::path path = *options.tokenizer;
  if (std::filesystem::is_directory(path)) path /= "tokenizer.json";
  FERRUM_CHECK(std::filesystem::is_regular_file(path), ErrorCode::kNotFound, "--tokenizer: no file ", path.string());
  tokenizer_json = path;
  return read_bpe_vocab(path, preset.vocab_size, gguf_pre_tokenizer_for(preset));
}

struct LayerTensorName {
  size_t layer = 0;
  std::string suffix;  // the name after the layer index: "attn_q.weight", "self_attn.q_proj.weight"
};

// "blk.3.attn_q.weight" (GGUF) or "model.layers.3.self_attn.q_proj.weight" (HF) -> {3, suffix};
// nullopt for tensors outside the decoder layers.
std::optional<LayerTensorName> split_layer_name(std::string_view name) {
  for (const std::string_view prefix : {std::string_view("blk."), std::string_view("model.layers.")}) {
    if (!name.starts_with(prefix)) continue;
    const size_t dot = name.find('.', prefix.size());
    if (dot == std::string_view::npos) return std::nullopt;
    LayerTensorName split;
    const char* digits_end = name.data() + dot;
    const auto [end, error] = std::from_chars(name.data() + prefix.size(), digits_end, split.layer);
    if (error != std::errc() || end != digits_end) return std::nullopt;
    split.suffix = std::string(name.substr(dot + 1));
    return split;
  }
  return std::nullopt;
}

// Passes bytes on to `inner` and keeps a copy of them in `copy`.
class CopyingSink final : public ByteSink {
 public:
  CopyingSink(ByteSink& inner, std::vector<uint8_t>& copy) : inner_(inner), copy_(copy) {}
  Status append(std::span<const uint8_t> bytes) override {
    copy_.insert(copy_.end(), bytes.begin(), bytes.end());
    return inner_.append(bytes);
  }

 private:
  ByteSink& inner_;
  std::vector<uint8_t>& copy_;
};

class Writer {
 public:
  Writer(const GenModelOptions& options, const GenProgress& progress, ThreadPool& pool)
      : options_(options), progress_(progress), pool_(pool) {}

  Status write_tensor(const TensorSpec& spec, ByteSink& sink) {
    FERRUM_ASSIGN_OR_RETURN(const size_t bytes, tensor_spec_bytes(spec));
    const std::optional<LayerTensorName> layer_name =
        options_.repeat_first_layer ? split_layer_name(spec.name) : std::nullopt;
    if (!layer_name) {
      FERRUM_TRY(write_tensor_content(spec, options_.seed, pool_, sink));
    } else if (const KeptTensor* kept = kept_like(spec, layer_name->suffix)) {
      FERRUM_TRY(sink.append(kept->bytes));
      ++copied_;
    } else {
      // The first layer with this tensor's dtype and shape: generate it and keep its bytes.
      KeptTensor& fresh = kept_[layer_name->suffix].emplace_back(KeptTensor{spec.dtype, spec.shape, {}});
      fresh.bytes.reserve(bytes);
      CopyingSink copying(sink, fresh.bytes);
      FERRUM_TRY(write_tensor_content(spec, options_.seed, pool_, copying));
    }
    done_ += bytes;
    if (progress_) progress_(done_, total_);
    return ok();
  }
  void set_total(uint64_t total) { total_ = total; }
  uint64_t done() const { return done_; }
  size_t copied() const { return copied_; }

 private:
  // A layer tensor as written, kept for --repeat-first-layer: at most one per suffix and dtype
  // (about one decoder layer's bytes; recipes give some layers' attn_v / ffn_down more bits).
  struct KeptTensor {
    DType dtype = DType::kF32;
    Shape shape;
    std::vector<uint8_t> bytes;
  };

  // The kept tensor of that suffix with this dtype and shape, if an earlier layer wrote one.
  const KeptTensor* kept_like(const TensorSpec& spec, const std::string& suffix) const {
    const auto found = kept_.find(suffix);
    if (found == kept_.end()) return nullptr;
    for (const KeptTensor& kept : found->second) {
      if (kept.dtype == spec.dtype && kept.shape == spec.shape) return &kept;
    }
    return nullptr;
  }

  const GenModelOptions& options_;
  const GenProgress& progress_;
  ThreadPool& pool_;
  uint64_t total_ = 0;
  uint64_t done_ = 0;
  std::map<std::string, std::vector<KeptTensor>> kept_;
  size_t copied_ = 0;
};

Expected<uint64_t> total_bytes(const std::vector<TensorSpec>& specs) {
  uint64_t total = 0;
  for (const TensorSpec& spec : specs) {
    FERRUM_ASSIGN_OR_RETURN(const size_t bytes, tensor_spec_bytes(spec));
    total += bytes;
  }
  return total;
}

Status write_gguf(const GenModelOptions& options, const ModelPreset& preset, const DtypeChoice& choice,
                  const BpeVocab& vocab, Writer& writer, GenModelResult& result) {
  FERRUM_ASSIGN_OR_RETURN(std::vector<TensorSpec> specs, gguf_tensor_specs(preset, choice));
  GgufWriter gguf;
  gguf.set_alignment(32);
  add_gguf_model_metadata(gguf, preset, choice.gguf_file_type, options.seed);
  add_gguf_tokenizer(gguf, vocab);
  for (const TensorSpec& spec : specs) {
    FERRUM_TRY(gguf.add_tensor(spec.name, spec.dtype, spec.shape,
                               [&writer, &spec](ByteSink& sink) { return writer.write_tensor(spec, sink); }));
  }
  FERRUM_ASSIGN_OR_RETURN(const uint64_t total, total_bytes(specs));
  writer.set_total(total);
  FERRUM_TRY(gguf.write(options.out));
  result.format = "gguf";
  result.tensors = specs.size();
  return ok();
}

std::string shard_name(size_t shard, size_t shards) {
  if (shards == 1) return "model.safetensors";
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", shard + 1, shards);
  return name;
}

Status write_hf(const GenModelOptions& options, const ModelPreset& preset, const DtypeChoice& choice,
                const BpeVocab& vocab, const std::optional<std::filesystem::path>& tokenizer_json, Writer& writer,
                GenModelResult& result) {
  FERRUM_ASSIGN_OR_RETURN(std::vector<TensorSpec> specs, hf_tensor_specs(preset, choice));
  // Shards fill in order up to shard_bytes, as transformers' save_pretrained splits them.
  std::vector<std::vector<size_t>> shards(1);
  uint64_t shard_size = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    FERRUM_ASSIGN_OR_RETURN(const size_t bytes, tensor_spec_bytes(specs[i]));
    if (shard_size > 0 && shard_size + bytes > options.shard_bytes) {
      shards.emplace_back();
      shard_size = 0;
    }
    shards.back().push_back(i);
    shard_size += bytes;
  }
  FERRUM_ASSIGN_OR_RETURN(const uint64_t total, total_bytes(specs));
  writer.set_total(total);
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t shard = 0; shard < shards.size(); ++shard) {
    SafetensorsWriter safetensors;
    safetensors.set_metadata("format", "pt");
    const std::string file = shard_name(shard, shards.size());
    for (size_t index : shards[shard]) {
      const TensorSpec& spec = specs[index];
      FERRUM_TRY(safetensors.add_tensor(spec.name, spec.dtype, spec.shape,
                                        [&writer, &spec](ByteSink& sink) { return writer.write_tensor(spec, sink); }));
      weight_map[spec.name] = file;
    }
    FERRUM_TRY(safetensors.write(options.out / file));
  }
  if (shards.size() > 1) {
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_size", total}};
    index["weight_map"] = std::move(weight_map);
    FERRUM_TRY(write_text(options.out / "model.safetensors.index.json", index.dump(2)));
  }
  FERRUM_TRY(write_text(options.out / "config.json",
                        hf_config_text(preset, choice.torch_dtype, choice.packed, vocab, options.seed)));
  FERRUM_TRY(write_text(options.out / "generation_config.json", generation_config_text(vocab)));
  if (tokenizer_json) {
    // A real tokenizer travels with the files beside it that say how to use it.
    const std::filesystem::path source = tokenizer_json->parent_path();
    for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                             "chat_template.jinja", "chat_template.json"}) {
      std::error_code error;
      if (!std::filesystem::exists(source / name)) continue;
      std::filesystem::copy_file(source / name, options.out / name, std::filesystem::copy_options::overwrite_existing,
                                 error);
      FERRUM_CHECK(!error, ErrorCode::kIo, "cannot copy ", (source / name).string(), ": ", error.message());
    }
  } else {
    FERRUM_TRY(write_text(options.out / "tokenizer.json", tokenizer_json_text(vocab)));
    FERRUM_TRY(write_text(options.out / "tokenizer_config.json", tokenizer_config_text(vocab)));
  }
  result.format = "safetensors";
  result.tensors = specs.size();
  result.shards = shards.size();
  return ok();
}

Status prepare_output(const GenModelOptions& options, bool gguf) {
  std::error_code error;
  if (std::filesystem::exists(options.out, error)) {
    FERRUM_CHECK(options.force, ErrorCode::kInvalidArgument, options.out.string(),
                 " already exists (pass --force to replace it)");
    if (gguf) {
      std::filesystem::remove(options.out, error);
    } else {
      FERRUM_CHECK(std::filesystem::is_directory(options.out), ErrorCode::kInvalidArgument, options.out.string(),
                   " exists and is not a directory");
      // Only what an earlier gen-model wrote: stale shards would confuse a loader.
      for (const auto& entry : std::filesystem::directory_iterator(options.out)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("model") && name.find(".safetensors") != std::string::npos) {
          std::filesystem::remove(entry.path(), error);
        }
      }
    }
  }
  const std::filesystem::path directory = gguf ? options.out.parent_path() : options.out;
  if (!directory.empty()) std::filesystem::create_directories(directory, error);
  FERRUM_CHECK(!error, ErrorCode::kIo, "cannot create ", directory.string(), ": ", error.message());
  return ok();
}

}  // namespace

Expected<GenModelResult> generate_model(const GenModelOptions& options, const GenProgress& progress) {
  const auto start = std::chrono::steady_clock::now();
  FERRUM_ASSIGN_OR_RETURN(const ModelPreset* preset, find_preset(options.preset));
  FERRUM_CHECK(!options.out.empty(), ErrorCode::kInvalidArgument, "no output path given");
  const bool gguf = options.out.extension() == ".gguf";
  FERRUM_ASSIGN_OR_RETURN(DtypeChoice choice, choose_dtype(options.dtype, gguf));
  std::optional<std::filesystem::path> tokenizer_json;
  FERRUM_ASSIGN_OR_RETURN(BpeVocab vocab, tokenizer_vocab(options, *preset, tokenizer_json));
  FERRUM_TRY(prepare_output(options, gguf));

  ThreadPool pool(options.threads);
  Writer writer(options, progress, pool);
  GenModelResult result;
  result.path = options.out;
  result.parameters = preset_parameter_count(*preset);
  if (gguf) {
    FERRUM_TRY(write_gguf(options, *preset, choice, vocab, writer, result));
  } else {
    FERRUM_TRY(write_hf(options, *preset, choice, vocab, tokenizer_json, writer, result));
  }
  result.bytes = writer.done();
  result.copied_tensors = writer.copied();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace ferrum::synth
