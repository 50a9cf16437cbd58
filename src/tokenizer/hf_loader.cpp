#include "tokenizer/hf_loader.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "tokenizer/pre_tokenizer.h"

namespace ferrum::tokenizer {
namespace {

using nlohmann::json;

Expected<json> read_json(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  FERRUM_CHECK(file.good(), ErrorCode::kNotFound, "cannot open ", path.string());
  std::ostringstream content;
  content << file.rdbuf();
  json parsed = json::parse(content.str(), nullptr, /*allow_exceptions=*/false);
  FERRUM_CHECK(!parsed.is_discarded(), ErrorCode::kParse, path.string(), " is not valid JSON");
  return parsed;
}

// Where a regex of tokenizer.json may hold a plain string instead ({"String": "..."}).
std::string quote_literal(const std::string& text) {
  std::string out = "\\Q";
  for (size_t pos = 0; pos < text.size(); ++pos) {
    if (text.compare(pos, 2, "\\E") == 0) {  // \E cannot appear inside \Q...\E
      out += "\\E\\\\E\\Q";
      ++pos;
    } else {
      out += text[pos];
    }
  }
  return out + "\\E";
}

std::string component_type(const json& node) {
  return node.is_object() && node.contains("type") && node["type"].is_string() ? node["type"].get<std::string>() : "";
}

Status read_normalizer(const json& node, PipelineSpec& pipeline) {
  if (node.is_null()) return ok();
  const std::string type = component_type(node);
  if (type == "Sequence") {
    for (const json& child : node.value("normalizers", json::array())) FERRUM_TRY(read_normalizer(child, pipeline));
    return ok();
  }
  FERRUM_CHECK(pipeline.normalization == Normalization::kNone, ErrorCode::kUnsupported,
               "tokenizer.json: more than one Unicode normalizer");
  if (type == "NFC") {
    pipeline.normalization = Normalization::kNfc;
    return ok();
  }
  if (type == "NFKC") {
    pipeline.normalization = Normalization::kNfkc;
    return ok();
  }
  return make_error(ErrorCode::kUnsupported, "tokenizer.json: normalizer '", type, "' is not supported");
}

struct PreTokenizerState {
  bool byte_level = false;
};

Status read_pre_tokenizer(const json& node, PipelineSpec& pipeline, PreTokenizerState& state) {
  if (node.is_null()) return ok();
  const std::string type = component_type(node);
  if (type == "Sequence") {
    for (const json& child : node.value("pretokenizers", json::array())) {
      FERRUM_TRY(read_pre_tokenizer(child, pipeline, state));
    }
    return ok();
  }
  if (type == "ByteLevel") {
    state.byte_level = true;
    pipeline.add_prefix_space = node.value("add_prefix_space", false);
    if (node.value("use_regex", true)) pipeline.split_patterns.push_back(kGpt2SplitPattern);
    return ok();
  }
  if (type == "Split") {
    const std::string behavior = node.value("behavior", "");
    FERRUM_CHECK(behavior == "Isolated" && !node.value("invert", false), ErrorCode::kUnsupported,
                 "tokenizer.json: Split with behavior '", behavior, "' and invert=", node.value("invert", false),
                 " is not supported (only Isolated, not inverted)");
    const json& pattern = node.value("pattern", json::object());
    if (pattern.contains("Regex")) {
      pipeline.split_patterns.push_back(pattern["Regex"].get<std::string>());
    } else if (pattern.contains("String")) {
      pipeline.split_patterns.push_back(quote_literal(pattern["String"].get<std::string>()));
    } else {
      return make_error(ErrorCode::kParse, "tokenizer.json: Split without a Regex or String pattern");
    }
    return ok();
  }
  if (type == "Digits") {
    pipeline.split_patterns.push_back(node.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+");
    return ok();
  }
  return make_error(ErrorCode::kUnsupported, "tokenizer.json: pre-tokenizer '", type, "' is not supported");
}

// "a b" (older files) or ["a", "b"] (newer ones).
Expected<std::pair<std::string, std::string>> read_merge(const json& merge) {
  if (merge.is_array() && merge.size() == 2) return std::pair{merge[0].get<std::string>(), merge[1].get<std::string>()};
  FERRUM_CHECK(merge.is_string(), ErrorCode::kParse, "tokenizer.json: merge ", merge.dump(), " is malformed");
  const std::string text = merge.get<std::string>();
  const size_t space = text.find(' ', 1);
  FERRUM_CHECK(space != std::string::npos, ErrorCode::kParse, "tokenizer.json: merge '", text, "' has no space");
  return std::pair{text.substr(0, space), text.substr(space + 1)};
}

// A token named in tokenizer_config.json: a string, {"content": ...}, or null.
std::optional<std::string> config_token(const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& value = config[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return std::nullopt;
}

// BOS/EOS added by a TemplateProcessing post-processor's "single" template.
void read_template_processing(const json& node, VocabSpec& vocab, const std::unordered_map<std::string, TokenId>& ids) {
  const std::string type = component_type(node);
  if (type == "Sequence") {
    for (const json& child : node.value("processors", json::array())) read_template_processing(child, vocab, ids);
    return;
  }
  if (type != "TemplateProcessing" || !node.contains("single")) return;
  bool seen_sequence = false;
  for (const json& item : node["single"]) {
    if (item.contains("Sequence")) {
      seen_sequence = true;
      continue;
    }
    if (!item.contains("SpecialToken")) continue;
    const std::string name = item["SpecialToken"].value("id", "");
    auto it = ids.find(name);
    if (it == ids.end()) continue;
    if (!seen_sequence) {
      vocab.special.bos = it->second;
      vocab.flags.add_bos = true;
    } else {
      vocab.special.eos = it->second;
      vocab.flags.add_eos = true;
    }
  }
}

}  // namespace

Expected<TokenizerSpec> read_hf_tokenizer_spec(const std::filesystem::path& tokenizer_json_path,
                                               const std::filesystem::path& config_path) {
  FERRUM_ASSIGN_OR_RETURN(json root, read_json(tokenizer_json_path));
  json config = json::object();
  if (!config_path.empty() && std::filesystem::exists(config_path)) {
    FERRUM_ASSIGN_OR_RETURN(config, read_json(config_path));
  }
  const std::string where = tokenizer_json_path.string();

  TokenizerSpec spec;
  spec.source = where;
  VocabSpec& vocab = spec.vocab;
  PipelineSpec& pipeline = spec.pipeline;
  pipeline.added_token_matching = AddedTokenMatching::kLeftmostLongest;
  pipeline.input_replacement = Utf8Replacement::kPerMaximalSubpart;

  const json& model = root.value("model", json::object());
  const std::string model_type = component_type(model);
  FERRUM_CHECK(model_type == "BPE", ErrorCode::kUnsupported, where, ": model type '", model_type,
               "' is not supported (only byte-level BPE)");
  vocab.model = VocabModel::kBytePairEncoding;
  vocab.flags.ignore_merges = model.value("ignore_merges", false);
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const bool set = model.contains(affix) && model[affix].is_string() && !model[affix].get<std::string>().empty();
    FERRUM_CHECK(!set, ErrorCode::kUnsupported, where, ": BPE with a ", affix, " is not supported");
  }

  // Ids may have gaps and added tokens may lie past the model's vocabulary: size by the largest id.
  std::unordered_map<std::string, TokenId> ids;
  TokenId max_id = -1;
  const json& model_vocab = model.value("vocab", json::object());
  for (auto it = model_vocab.begin(); it != model_vocab.end(); ++it) {
    const TokenId id = it.value().get<TokenId>();
    FERRUM_CHECK(id >= 0, ErrorCode::kParse, where, ": token '", it.key(), "' has negative id ", id);
    ids.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }
  const json& added = root.value("added_tokens", json::array());
  for (const json& token : added) max_id = std::max(max_id, token.value("id", -1));
  FERRUM_CHECK(max_id >= 0, ErrorCode::kParse, where, ": empty vocabulary");

  vocab.tokens.assign(max_id + 1, std::string());
  vocab.types.assign(max_id + 1, TokenType::kUnused);  // gaps in the id range
  for (const auto& [text, id] : ids) {
    vocab.tokens[id] = text;
    vocab.types[id] = TokenType::kNormal;
  }
  for (const json& token : added) {
    AddedToken entry;
    entry.id = token.value("id", -1);
    entry.content = token.value("content", "");
    entry.special = token.value("special", false);
    entry.lstrip = token.value("lstrip", false);
    entry.rstrip = token.value("rstrip", false);
    entry.single_word = token.value("single_word", false);
    entry.normalized = token.value("normalized", !entry.special);
    FERRUM_CHECK(entry.id >= 0, ErrorCode::kParse, where, ": added token '", entry.content, "' has no id");
    vocab.tokens[entry.id] = entry.content;
    vocab.types[entry.id] = entry.special ? TokenType::kControl : TokenType::kUserDefined;
    ids.emplace(entry.content, entry.id);
    vocab.added_tokens.push_back(std::move(entry));
  }

  for (const json& merge : model.value("merges", json::array())) {
    FERRUM_ASSIGN_OR_RETURN(auto pair, read_merge(merge));
    vocab.merges.push_back(std::move(pair));
  }

  FERRUM_TRY(read_normalizer(root.value("normalizer", json()), pipeline));
  PreTokenizerState pre_state;
  FERRUM_TRY(read_pre_tokenizer(root.value("pre_tokenizer", json()), pipeline, pre_state));
  FERRUM_CHECK(pre_state.byte_level, ErrorCode::kUnsupported, where,
               ": BPE without a ByteLevel pre-tokenizer is not supported");

  read_template_processing(root.value("post_processor", json()), vocab, ids);
  const auto id_of = [&](const std::optional<std::string>& name) {
    if (!name) return kNoToken;
    auto it = ids.find(*name);
    return it == ids.end() ? kNoToken : it->second;
  };
  if (auto bos = id_of(config_token(config, "bos_token")); bos != kNoToken) vocab.special.bos = bos;
  if (auto eos = id_of(config_token(config, "eos_token")); eos != kNoToken) vocab.special.eos = eos;
  vocab.special.unk = id_of(config_token(config, "unk_token"));
  vocab.special.pad = id_of(config_token(config, "pad_token"));
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    vocab.special.unk = id_of(model["unk_token"].get<std::string>());
  }
  if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
    vocab.flags.add_bos = config["add_bos_token"].get<bool>();
  }
  if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean()) {
    vocab.flags.add_eos = config["add_eos_token"].get<bool>();
  }
  vocab.flags.clean_up_spaces = config.value("clean_up_tokenization_spaces", false);
  return spec;
}

}  // namespace ferrum::tokenizer
