#include "formats/inspect.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <sstream>

#include "formats/gguf_config.h"
#include "formats/gguf_file.h"
#include "formats/hf_config.h"
#include "formats/model_dir.h"
#include "formats/safetensors_checkpoint.h"
#include "formats/tokenizer_summary.h"

namespace ferrum {
namespace {

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  std::ostringstream text;
  text << std::fixed << std::setprecision(unit == 0 ? 0 : 1) << value << " " << units[unit];
  return text.str();
}

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
    } else {
      out += c;
    }
  }
  return out;
}

struct TensorRow {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t bytes;
};

void print_tensor_table(std::ostream& out, const std::vector<TensorRow>& rows) {
  size_t name_width = 4;
  for (const TensorRow& row : rows) name_width = std::max(name_width, row.name.size());
  out << "\ntensors (" << rows.size() << "):\n";
  out << "  " << std::left << std::setw(static_cast<int>(name_width)) << "name"
      << "  " << std::setw(8) << "type"
      << "  " << std::setw(22) << "shape"
      << "  bytes\n";
  uint64_t total_bytes = 0;
  int64_t total_elements = 0;
  std::map<std::string, size_t> by_type;
  for (const TensorRow& row : rows) {
    out << "  " << std::setw(static_cast<int>(name_width)) << row.name << "  " << std::setw(8) << dtype_name(row.dtype)
        << "  " << std::setw(22) << row.shape.to_string() << "  " << row.bytes << "\n";
    total_bytes += row.bytes;
    total_elements += row.shape.numel();
    ++by_type[std::string(dtype_name(row.dtype))];
  }
  out << std::right << "total: " << rows.size() << " tensors, " << total_elements << " parameters, "
      << human_bytes(total_bytes) << " (";
  bool first = true;
  for (const auto& [type, count] : by_type) {
    out << (first ? "" : ", ") << count << " " << type;
    first = false;
  }
  out << ")\n";
}

void print_rope(std::ostream& out, const char* label, const RopeParams& rope) {
  out << "  " << label << ": theta " << rope.theta << ", scaling " << rope_type_name(rope.scaling.type);
  if (rope.scaling.type != RopeType::kDefault) out << " (factor " << rope.scaling.factor << ")";
  out << "\n";
}

void print_config(std::ostream& out, const ModelConfig& config) {
  out << "\nmodel: " << model_arch_name(config.arch) << " (" << config.architecture << ")\n";
  if (const DecoderConfig* c = config.decoder()) {
    out << "  vocab " << c->vocab_size << ", hidden " << c->hidden_size << ", intermediate " << c->intermediate_size
        << ", layers " << c->num_layers << "\n";
    out << "  heads " << c->num_heads << ", kv heads " << c->num_kv_heads << ", head_dim " << c->head_dim
        << ", rotary_dim " << c->rotary_dim << ", max positions " << c->max_position_embeddings << "\n";
    out << "  norm eps " << c->norm_eps << ", activation " << c->hidden_act << ", tied embeddings "
        << (c->tie_word_embeddings ? "yes" : "no") << ", qk norm " << (c->qk_norm ? "yes" : "no") << "\n";
    print_rope(out, "rope", c->rope);
    if (c->rope_local) print_rope(out, "rope (sliding layers)", *c->rope_local);
    if (c->sliding_window) {
      const auto sliding = std::count(c->layer_types.begin(), c->layer_types.end(), LayerAttention::kSliding);
      out << "  sliding window " << *c->sliding_window << " on " << sliding << " of " << c->num_layers << " layers\n";
    }
    if (c->moe) {
      const auto moe_layers = std::count(c->moe->layer_is_moe.begin(), c->moe->layer_is_moe.end(), true);
      out << "  moe: " << c->moe->num_experts << " experts, top " << c->moe->num_experts_per_tok << ", expert ffn "
          << c->moe->expert_intermediate_size << ", shared " << c->moe->num_shared_experts << ", on " << moe_layers
          << " layers\n";
    }
    if (c->mla) {
      out << "  mla: q_lora " << c->mla->q_lora_rank << ", kv_lora " << c->mla->kv_lora_rank << ", nope "
          << c->mla->qk_nope_head_dim << ", rope " << c->mla->qk_rope_head_dim << ", v " << c->mla->v_head_dim << "\n";
    }
  } else if (const BertConfig* b = config.bert()) {
    out << "  vocab " << b->vocab_size << ", hidden " << b->hidden_size << ", layers " << b->num_layers << ", heads "
        << b->num_heads << ", intermediate " << b->intermediate_size << "\n";
  } else if (const WhisperConfig* w = config.whisper()) {
    out << "  d_model " << w->d_model << ", encoder layers " << w->encoder_layers << ", decoder layers "
        << w->decoder_layers << ", mel bins " << w->num_mel_bins << "\n";
  } else if (const ClipConfig* clip = config.clip()) {
    out << "  text: hidden " << clip->text.hidden_size << ", layers " << clip->text.num_layers << "; vision: hidden "
        << clip->vision.hidden_size << ", layers " << clip->vision.num_layers << ", image " << clip->vision.image_size
        << ", patch " << clip->vision.patch_size << "; projection " << clip->projection_dim << "\n";
  }
  if (config.quantization) {
    const QuantizationConfig& q = *config.quantization;
    out << "  quantization: " << q.method << " " << q.bits << "-bit, group " << q.group_size
        << (q.method == "gptq" ? (q.desc_act ? ", act-order" : "") : "") << "\n";
  }
}

void print_tokenizer(std::ostream& out, const TokenizerSummary& tokenizer) {
  out << "\ntokenizer: " << tokenizer.model << (tokenizer.pre.empty() ? "" : " (pre " + tokenizer.pre + ")")
      << ", vocab " << tokenizer.vocab_size;
  if (tokenizer.merges > 0) out << ", " << tokenizer.merges << " merges";
  if (tokenizer.add_bos) out << ", add_bos " << (*tokenizer.add_bos ? "yes" : "no");
  out << ", chat template " << (tokenizer.has_chat_template ? "yes" : "no") << "\n";
  constexpr size_t kShown = 12;
  size_t shown = 0;
  for (const SpecialToken& token : tokenizer.special_tokens) {
    if (shown++ == kShown) {
      out << "  ... " << tokenizer.special_tokens.size() - kShown << " more special tokens\n";
      break;
    }
    out << "  " << token.role << " " << token.id << " \"" << printable(token.text) << "\"\n";
  }
}

Status inspect_gguf(const std::filesystem::path& path, std::ostream& out, const InspectOptions& options) {
  FERRUM_ASSIGN_OR_RETURN(const GgufFile file, GgufFile::open(path));
  out << path.string() << ": GGUF v" << file.version() << ", " << human_bytes(file.mapping()->size()) << ", "
      << file.metadata().size() << " metadata keys, " << file.tensors().size() << " tensors, alignment "
      << file.alignment() << "\n\nmetadata:\n";
  for (const GgufKeyValue& entry : file.metadata()) {
    out << "  " << entry.key << " (" << gguf_value_type_name(entry.value.type());
    if (const GgufArray* array = entry.value.as_array()) {
      out << " of " << gguf_value_type_name(array->element_type());
    }
    out << ") = " << printable(entry.value.to_display_string(options.max_array_elements)) << "\n";
  }
  if (auto config = config_from_gguf(file)) {
    print_config(out, *config);
  } else {
    out << "\nmodel: " << config.error().message() << "\n";
  }
  FERRUM_ASSIGN_OR_RETURN(const std::optional<TokenizerSummary> tokenizer, summarize_gguf_tokenizer(file));
  if (tokenizer) print_tokenizer(out, *tokenizer);
  if (options.show_tensors) {
    std::vector<TensorRow> rows;
    for (const GgufTensorInfo& info : file.tensors())
      rows.push_back({std::string(info.name), info.dtype, info.shape, info.nbytes});
    print_tensor_table(out, rows);
  }
  return ok();
}

Status inspect_safetensors(const ModelDir& dir, std::ostream& out, const InspectOptions& options) {
  FERRUM_ASSIGN_OR_RETURN(const SafetensorsCheckpoint checkpoint, SafetensorsCheckpoint::open(dir.weights));
  out << dir.weights.string() << ": safetensors, " << checkpoint.shards().size() << " file(s), "
      << checkpoint.tensor_count() << " tensors\n";
  for (const SafetensorsFile& shard : checkpoint.shards()) {
    if (shard.metadata().empty()) continue;
    out << "  " << std::filesystem::path(shard.path()).filename().string() << " metadata:";
    for (const auto& [key, value] : shard.metadata()) out << " " << key << "=" << printable(value);
    out << "\n";
  }
  if (dir.config) {
    if (auto config = load_hf_config(*dir.config)) {
      print_config(out, *config);
    } else {
      out << "\nmodel: " << config.error().message() << "\n";
    }
  }
  if (dir.tokenizer) {
    FERRUM_ASSIGN_OR_RETURN(const TokenizerSummary tokenizer,
                            summarize_tokenizer_json(*dir.tokenizer, dir.tokenizer_config));
    print_tokenizer(out, tokenizer);
  }
  if (options.show_tensors) {
    std::vector<TensorRow> rows;
    for (const auto& [name, entry] : checkpoint.entries()) {
      const SafetensorsTensorInfo& info = checkpoint.shards()[entry.shard].tensors()[entry.tensor];
      rows.push_back({name, info.dtype, info.shape, info.nbytes()});
    }
    print_tensor_table(out, rows);
  }
  return ok();
}

}  // namespace

Status inspect_model(std::string_view spec, std::ostream& out, const InspectOptions& options) {
  FERRUM_ASSIGN_OR_RETURN(const std::filesystem::path path, resolve_model_path(spec, options.revision));
  FERRUM_ASSIGN_OR_RETURN(const ModelDir dir, ModelDir::open(path));
  if (dir.weight_format == WeightFormat::kGguf) return inspect_gguf(dir.weights, out, options);
  return inspect_safetensors(dir, out, options);
}

}  // namespace ferrum
