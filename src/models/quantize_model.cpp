#include "models/quantize_model.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "core/thread_pool.h"
#include "formats/gguf_file.h"
#include "formats/gguf_writer.h"
#include "formats/hf_config.h"
#include "formats/model_dir.h"
#include "formats/safetensors_checkpoint.h"
#include "formats/tensor_names.h"
#include "models/gguf_tokenizer_export.h"
#include "models/rope.h"
#include "quant/dequantize.h"
#include "quant/quantize.h"

namespace ferrum {
namespace {

// About this many f32 values are converted and quantized at a time (64 MiB).
constexpr size_t kPieceValues = size_t{16} << 20;

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// One tensor of the output and where its rows come from.
struct PlannedTensor {
  std::string name;
  Shape shape;  // outermost-first, as written
  DType type = DType::kF32;
  std::vector<TensorView> sources;  // stacked along dim 0 (MoE experts); usually one
  size_t rope_heads = 0;            // > 0: permute rows per head for interleaved-pair RoPE
  bool add_one = false;             // Gemma RMSNorm weights: GGUF stores 1 + w
  std::vector<float> values;        // a tensor made here (rope_freqs), f32

  size_t cols() const { return static_cast<size_t>(shape[shape.rank() - 1]); }
  size_t rows() const { return static_cast<size_t>(shape.numel()) / std::max<size_t>(cols(), 1); }
};

// Row `row` of the output in a source's row order: GGUF keeps, per head, the rotary pair (i, half j)
// at 2i + j, where Hugging Face keeps it at j * d/2 + i.
size_t source_row(const PlannedTensor& tensor, size_t row) {
  if (tensor.rope_heads == 0) return row;
  const size_t head_rows = tensor.rows() / tensor.rope_heads;
  const size_t head = row / head_rows, within = row % head_rows;
  return head * head_rows + (within % 2) * (head_rows / 2) + within / 2;
}

// Streams one tensor into `sink`: rows converted to f32, transformed, quantized piece by piece; a
// tensor already in its target type and layout is copied as stored.
Status produce_tensor(const PlannedTensor& tensor, ThreadPool& pool, ByteSink& sink,
                      const std::function<void(uint64_t)>& advance) {
  const size_t cols = tensor.cols();
  const size_t rows = tensor.rows();
  if (!tensor.values.empty()) {
    advance(tensor.values.size());
    return sink.append({reinterpret_cast<const uint8_t*>(tensor.values.data()), tensor.values.size() * 4});
  }
  const bool plain_copy = tensor.sources.size() == 1 && tensor.rope_heads == 0 && !tensor.add_one &&
                          tensor.sources[0].dtype() == tensor.type;
  if (plain_copy) {
    const auto* bytes = static_cast<const uint8_t*>(tensor.sources[0].data());
    const size_t total = tensor.sources[0].nbytes();
    const size_t piece = size_t{64} << 20;
    for (size_t offset = 0; offset < total; offset += piece) {
      FERRUM_TRY(sink.append({bytes + offset, std::min(piece, total - offset)}));
      advance(static_cast<uint64_t>(std::min(piece, total - offset)) * rows * cols / std::max<size_t>(total, 1));
    }
    return ok();
  }
  const size_t rows_per_source = rows / tensor.sources.size();
  const size_t piece_rows = std::max<size_t>(1, kPieceValues / std::max<size_t>(cols, 1));
  std::vector<float> values;
  std::vector<uint8_t> encoded;
  for (size_t first = 0; first < rows; first += piece_rows) {
    const size_t count = std::min(piece_rows, rows - first);
    values.resize(count * cols);
    for (size_t r = 0; r < count; ++r) {
      const size_t row = first + r;
      const TensorView& source = tensor.sources[row / rows_per_source];
      const size_t local = source_row(tensor, row % rows_per_source);
      const size_t row_bytes = row_bytes_unchecked(source.dtype(), cols);
      dequantize_row(source.dtype(), static_cast<const uint8_t*>(source.data()) + local * row_bytes,
                     values.data() + r * cols, cols);
    }
    if (tensor.add_one) {
      for (float& value : values) value += 1.0f;
    }
    FERRUM_ASSIGN_OR_RETURN(size_t bytes, dtype_bytes(tensor.type, count * cols));
    encoded.resize(bytes);
    FERRUM_TRY(quantize_tensor(tensor.type, values.data(), count, cols, encoded.data(), pool));
    FERRUM_TRY(sink.append(encoded));
    advance(count * cols);
  }
  return ok();
}

// N of "blk.N.*", or nullopt.
std::optional<size_t> layer_of(std::string_view name) {
  if (!name.starts_with("blk.")) return std::nullopt;
  const size_t dot = name.find('.', 4);
  size_t layer = 0;
  const char* end = name.data() + (dot == std::string_view::npos ? name.size() : dot);
  const auto [stop, status] = std::from_chars(name.data() + 4, end, layer);
  if (status != std::errc() || stop != end) return std::nullopt;
  return layer;
}

// Output order: token_embd, the layers in numeric order, then the rest (norm, output).
std::pair<int, std::pair<size_t, std::string>> tensor_order(const std::string& name) {
  if (name.starts_with("token_embd")) return {0, {0, name}};
  if (const std::optional<size_t> layer = layer_of(name)) return {1, {*layer, name}};
  return {2, {0, name}};
}

Status check_source(const PlannedTensor& tensor) {
  for (const TensorView& source : tensor.sources) {
    FERRUM_CHECK(can_dequantize(source.dtype()), ErrorCode::kUnsupported, "tensor ", tensor.name, " is stored as ",
                 source.dtype(), ", which cannot be converted");
    FERRUM_CHECK(source.is_contiguous(), ErrorCode::kUnsupported, "tensor ", tensor.name, " is not contiguous");
  }
  return ok();
}

// ── Hugging Face directory ──

Expected<std::string_view> gguf_architecture(ModelArch arch) {
  switch (arch) {
    case ModelArch::kLlama:
    case ModelArch::kMistral: return std::string_view("llama");
    case ModelArch::kQwen2: return std::string_view("qwen2");
    case ModelArch::kQwen3: return std::string_view("qwen3");
    case ModelArch::kQwen3Moe: return std::string_view("qwen3moe");
    case ModelArch::kGemma3: return std::string_view("gemma3");
    default:
      return make_error(ErrorCode::kUnsupported, "quantize: architecture ", model_arch_name(arch),
                        " has no GGUF export (llama, mistral, qwen2, qwen3, qwen3_moe and gemma3 do)");
  }
}

// Gemma 3's period of sliding layers: layer i is full-attention when (i + 1) % period == 0.
Expected<uint32_t> sliding_pattern(const DecoderConfig& c) {
  const auto first_full = std::find(c.layer_types.begin(), c.layer_types.end(), LayerAttention::kFull);
  const size_t period = static_cast<size_t>(first_full - c.layer_types.begin()) + 1;
  for (size_t i = 0; i < c.layer_types.size(); ++i) {
    const bool full = (i + 1) % period == 0;
    FERRUM_CHECK(full == (c.layer_types[i] == LayerAttention::kFull), ErrorCode::kUnsupported,
                 "quantize: gemma3 layer types do not follow one sliding-window period (layer ", i, ")");
  }
  return static_cast<uint32_t>(period);
}

// `token_ids`: also write config.json's special-token ids (when no tokenizer states them).
Status write_decoder_metadata(GgufWriter& writer, const ModelConfig& config, std::string_view arch, bool token_ids) {
  const DecoderConfig& c = *config.decoder();
  const std::string p = std::string(arch) + ".";
  writer.set_u32(p + "vocab_size", static_cast<uint32_t>(c.vocab_size));
  writer.set_u32(p + "context_length", static_cast<uint32_t>(c.max_position_embeddings));
  writer.set_u32(p + "embedding_length", static_cast<uint32_t>(c.hidden_size));
  writer.set_u32(p + "block_count", static_cast<uint32_t>(c.num_layers));
  writer.set_u32(p + "feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  writer.set_u32(p + "attention.head_count", static_cast<uint32_t>(c.num_heads));
  writer.set_u32(p + "attention.head_count_kv", static_cast<uint32_t>(c.num_kv_heads));
  writer.set_u32(p + "attention.key_length", static_cast<uint32_t>(c.head_dim));
  writer.set_u32(p + "attention.value_length", static_cast<uint32_t>(c.head_dim));
  writer.set_f32(p + "attention.layer_norm_rms_epsilon", static_cast<float>(c.norm_eps));
  writer.set_u32(p + "rope.dimension_count", static_cast<uint32_t>(c.rotary_dim));
  writer.set_f32(p + "rope.freq_base", static_cast<float>(c.rope.theta));
  const RopeScaling& scaling = c.rope.scaling;
  switch (scaling.type) {
    case RopeType::kDefault:
    case RopeType::kLlama3: break;  // llama3: the rope_freqs.weight tensor
    case RopeType::kLinear:
      writer.set_string(p + "rope.scaling.type", "linear");
      writer.set_f32(p + "rope.scaling.factor", static_cast<float>(scaling.factor));
      break;
    case RopeType::kYarn:
      writer.set_string(p + "rope.scaling.type", "yarn");
      writer.set_f32(p + "rope.scaling.factor", static_cast<float>(scaling.factor));
      if (scaling.original_max_position_embeddings) {
        writer.set_u32(p + "rope.scaling.original_context_length",
                       static_cast<uint32_t>(*scaling.original_max_position_embeddings));
      }
      writer.set_f32(p + "rope.scaling.yarn_beta_fast", static_cast<float>(scaling.beta_fast));
      writer.set_f32(p + "rope.scaling.yarn_beta_slow", static_cast<float>(scaling.beta_slow));
      break;
    default:
      return make_error(ErrorCode::kUnsupported, "quantize: rope scaling ", rope_type_name(scaling.type),
                        " has no GGUF form here");
  }
  if (c.sliding_window && std::any_of(c.layer_types.begin(), c.layer_types.end(),
                                      [](LayerAttention type) { return type == LayerAttention::kSliding; })) {
    writer.set_u32(p + "attention.sliding_window", static_cast<uint32_t>(*c.sliding_window));
  }
  if (config.arch == ModelArch::kGemma3) {
    FERRUM_ASSIGN_OR_RETURN(uint32_t pattern, sliding_pattern(c));
    writer.set_u32(p + "attention.sliding_window_pattern", pattern);
    if (c.rope_local) writer.set_f32(p + "rope.freq_base_swa", static_cast<float>(c.rope_local->theta));
    if (c.final_logit_softcapping) {
      writer.set_f32(p + "final_logit_softcapping", static_cast<float>(*c.final_logit_softcapping));
    }
    if (c.attn_logit_softcapping) {
      writer.set_f32(p + "attn_logit_softcapping", static_cast<float>(*c.attn_logit_softcapping));
    }
  }
  if (c.moe) {
    writer.set_u32(p + "expert_count", static_cast<uint32_t>(c.moe->num_experts));
    writer.set_u32(p + "expert_used_count", static_cast<uint32_t>(c.moe->num_experts_per_tok));
    writer.set_u32(p + "expert_feed_forward_length", static_cast<uint32_t>(c.moe->expert_intermediate_size));
    writer.set_bool(p + "expert_weights_norm", c.moe->norm_topk_prob);
  }
  if (!token_ids) return ok();
  if (config.tokens.bos) writer.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*config.tokens.bos));
  if (!config.tokens.eos.empty()) {
    writer.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(config.tokens.eos[0]));
  }
  if (config.tokens.pad) writer.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(*config.tokens.pad));
  return ok();
}

// Llama 3's scaling as llama.cpp's converter stores it: inverse frequency i is divided by entry i.
Expected<std::vector<float>> llama3_frequency_divisors(const DecoderConfig& c) {
  RopeParams plain = c.rope;
  plain.scaling = RopeScaling{};
  const auto rotary = static_cast<size_t>(c.rotary_dim);
  const auto context = static_cast<size_t>(c.max_position_embeddings);
  FERRUM_ASSIGN_OR_RETURN(RopeFrequencies base, rope_frequencies(plain, rotary, context));
  FERRUM_ASSIGN_OR_RETURN(RopeFrequencies scaled, rope_frequencies(c.rope, rotary, context));
  std::vector<float> divisors(base.inv_freq.size());
  for (size_t i = 0; i < divisors.size(); ++i) divisors[i] = base.inv_freq[i] / scaled.inv_freq[i];
  return divisors;
}

struct Plan {
  std::vector<PlannedTensor> tensors;
  size_t layers = 0;
  bool tied = false;
};

Expected<Plan> plan_from_hf(const ModelConfig& config, const SafetensorsCheckpoint& checkpoint) {
  const DecoderConfig& c = *config.decoder();
  Plan plan;
  plan.layers = static_cast<size_t>(c.num_layers);
  std::map<std::string, PlannedTensor> by_name;
  std::map<std::string, std::map<size_t, TensorView>> experts;  // stacked GGUF name -> expert -> view
  for (const auto& [hf_name, entry] : checkpoint.entries()) {
    const std::vector<TensorNameMapping> mappings = hf_to_gguf_tensor_names(config.arch, hf_name);
    if (mappings.empty()) {
      if (ends_with(hf_name, "rotary_emb.inv_freq")) continue;  // a buffer some checkpoints keep
      return make_error(ErrorCode::kUnsupported, "quantize: ", hf_name, " has no GGUF name for ",
                        model_arch_name(config.arch));
    }
    const TensorNameMapping& mapping = mappings.front();
    FERRUM_ASSIGN_OR_RETURN(TensorView view, checkpoint.tensor_view(hf_name));
    if (mapping.relation == TensorNameRelation::kExpertSlice) {
      // The expert index is the HF name's second number ("model.layers.3.mlp.experts.17...").
      size_t numbers = 0, expert = 0;
      for (size_t i = 0; i < hf_name.size();) {
        if (std::isdigit(static_cast<unsigned char>(hf_name[i])) && (i == 0 || hf_name[i - 1] == '.')) {
          size_t end = i;
          while (end < hf_name.size() && std::isdigit(static_cast<unsigned char>(hf_name[end]))) ++end;
          if (++numbers == 2) std::from_chars(hf_name.data() + i, hf_name.data() + end, expert);
          i = end;
        } else {
          ++i;
        }
      }
      experts[mapping.name][expert] = view;
      continue;
    }
    FERRUM_CHECK(mapping.relation == TensorNameRelation::kSame, ErrorCode::kUnsupported, "quantize: ", hf_name,
                 " (fused expert tensors) is not supported");
    PlannedTensor tensor;
    tensor.name = mapping.name;
    tensor.shape = view.shape();
    tensor.sources = {view};
    const bool permuted_arch = config.arch == ModelArch::kLlama || config.arch == ModelArch::kMistral;
    if (permuted_arch && ends_with(hf_name, "self_attn.q_proj.weight")) tensor.rope_heads = c.num_heads;
    if (permuted_arch && ends_with(hf_name, "self_attn.k_proj.weight")) tensor.rope_heads = c.num_kv_heads;
    tensor.add_one = config.arch == ModelArch::kGemma3 && ends_with(tensor.name, "norm.weight");
    by_name[tensor.name] = std::move(tensor);
  }
  for (auto& [name, per_expert] : experts) {
    PlannedTensor tensor;
    tensor.name = name;
    for (auto& [index, view] : per_expert) {
      FERRUM_CHECK(index == tensor.sources.size(), ErrorCode::kNotFound, "quantize: expert ", tensor.sources.size(),
                   " of ", name, " is missing");
      FERRUM_CHECK(view.shape() == per_expert.begin()->second.shape(), ErrorCode::kShapeMismatch,
                   "quantize: experts of ", name, " differ in shape");
      tensor.sources.push_back(view);
    }
    const Shape& one = tensor.sources.front().shape();
    tensor.shape = Shape{static_cast<int64_t>(tensor.sources.size()), one[0], one[1]};
    by_name[name] = std::move(tensor);
  }
  if (c.rope.scaling.type == RopeType::kLlama3) {
    PlannedTensor rope;
    rope.name = "rope_freqs.weight";
    FERRUM_ASSIGN_OR_RETURN(rope.values, llama3_frequency_divisors(c));
    rope.shape = Shape{static_cast<int64_t>(rope.values.size())};
    by_name[rope.name] = std::move(rope);
  }
  plan.tied = !by_name.contains("output.weight");
  for (auto& [name, tensor] : by_name) plan.tensors.push_back(std::move(tensor));
  return plan;
}

// ── GGUF file ──

Plan plan_from_gguf(const GgufFile& file) {
  Plan plan;
  for (const GgufTensorInfo& info : file.tensors()) {
    PlannedTensor tensor;
    tensor.name = info.name;
    tensor.shape = info.shape;
    tensor.sources = {file.tensor_view(info)};
    plan.tensors.push_back(std::move(tensor));
    if (const std::optional<size_t> layer = layer_of(info.name)) plan.layers = std::max(plan.layers, *layer + 1);
  }
  plan.tied = file.find_tensor("output.weight") == nullptr;
  return plan;
}

void copy_gguf_metadata(const GgufFile& file, GgufWriter& writer) {
  for (const GgufKeyValue& entry : file.metadata()) {
    if (entry.key == "general.architecture" || entry.key == "general.file_type" ||
        entry.key == "general.quantization_version" || entry.key == "general.alignment") {
      continue;
    }
    writer.set_value(entry.key, entry.value);
  }
}

}  // namespace

Expected<QuantizeReport> quantize_model(const QuantizeOptions& options) {
  FERRUM_ASSIGN_OR_RETURN(ModelDir dir, ModelDir::open(options.input));
  QuantizeReport report;
  GgufWriter writer;
  Plan plan;
  // Whatever the tensors point into must outlive writing.
  std::optional<GgufFile> gguf;
  std::optional<SafetensorsCheckpoint> checkpoint;
  if (dir.weight_format == WeightFormat::kGguf) {
    FERRUM_ASSIGN_OR_RETURN(gguf, GgufFile::open(dir.weights));
    report.architecture = std::string(gguf->architecture());
    writer.set_string("general.architecture", report.architecture);
    copy_gguf_metadata(*gguf, writer);
    plan = plan_from_gguf(*gguf);
    report.wrote_tokenizer = gguf->find("tokenizer.ggml.tokens") != nullptr;
  } else {
    FERRUM_CHECK(dir.config.has_value(), ErrorCode::kNotFound, dir.root.string(), ": no config.json");
    FERRUM_ASSIGN_OR_RETURN(ModelConfig config, load_hf_config(*dir.config));
    FERRUM_CHECK(config.decoder() != nullptr && !config.quantization, ErrorCode::kUnsupported,
                 "quantize: ", dir.root.string(), " is not an unquantized decoder-only model");
    FERRUM_ASSIGN_OR_RETURN(std::string_view arch, gguf_architecture(config.arch));
    report.architecture = std::string(arch);
    writer.set_string("general.architecture", arch);
    writer.set_string("general.name", dir.root.filename().string());
    FERRUM_TRY(write_decoder_metadata(writer, config, arch, !dir.tokenizer.has_value()));
    if (dir.tokenizer) {
      FERRUM_TRY(write_tokenizer_metadata(writer, *dir.tokenizer, dir.tokenizer_config.value_or(""),
                                          static_cast<size_t>(config.decoder()->vocab_size)));
      report.wrote_tokenizer = true;
    }
    FERRUM_ASSIGN_OR_RETURN(checkpoint, SafetensorsCheckpoint::open(dir.weights));
    FERRUM_ASSIGN_OR_RETURN(plan, plan_from_hf(config, *checkpoint));
  }
  writer.set_u32("general.file_type", quant::gguf_file_type(options.recipe));
  writer.set_u32("general.quantization_version", 2);

  std::sort(plan.tensors.begin(), plan.tensors.end(),
            [](const PlannedTensor& a, const PlannedTensor& b) { return tensor_order(a.name) < tensor_order(b.name); });
  uint64_t values_total = 0;
  for (PlannedTensor& tensor : plan.tensors) {
    FERRUM_TRY(check_source(tensor));
    const quant::TensorSlot slot = quant::classify_tensor(tensor.name, tensor.shape.rank(), plan.tied);
    tensor.type = tensor.values.empty() ? quant::recipe_tensor_type(options.recipe, slot, tensor.cols(), plan.layers)
                                        : DType::kF32;
    values_total += static_cast<uint64_t>(tensor.shape.numel());
    for (const TensorView& source : tensor.sources) report.input_bytes += source.nbytes();
    report.output_bytes += dtype_bytes(tensor.type, static_cast<size_t>(tensor.shape.numel())).value_or(0);
    ++report.tensors_per_type[tensor.type];
  }
  report.tensors = plan.tensors.size();

  ThreadPool pool(options.threads);
  uint64_t values_done = 0;
  for (size_t index = 0; index < plan.tensors.size(); ++index) {
    const PlannedTensor& tensor = plan.tensors[index];
    FERRUM_TRY(writer.add_tensor(tensor.name, tensor.type, tensor.shape, [&, index](ByteSink& sink) -> Status {
      QuantizeProgress progress{index, plan.tensors.size(), tensor.name, tensor.type, values_done, values_total};
      if (options.progress) options.progress(progress);
      return produce_tensor(tensor, pool, sink, [&](uint64_t values) {
        values_done += values;
        progress.values_done = values_done;
        if (options.progress) options.progress(progress);
      });
    }));
  }
  FERRUM_TRY(writer.write(options.output));
  return report;
}

}  // namespace ferrum
