#include "formats/tokenizer_summary.h"

#include "formats/json_file.h"

namespace ferrum {
namespace {

// tokenizer_config.json writes special tokens as a string or as {"content": "..."}.
std::optional<std::string> token_text(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

Expected<std::optional<TokenizerSummary>> summarize_gguf_tokenizer(const GgufFile& file) {
  const GgufValue* tokens_value = file.find("tokenizer.ggml.tokens");
  if (tokens_value == nullptr) return std::optional<TokenizerSummary>();
  FERRUM_ASSIGN_OR_RETURN(const GgufArray* tokens, file.get_array("tokenizer.ggml.tokens"));
  FERRUM_CHECK(tokens->element_type() == GgufValueType::kString, ErrorCode::kParse, file.path(),
               ": tokenizer.ggml.tokens holds ", gguf_value_type_name(tokens->element_type()), ", expected strings");
  TokenizerSummary summary;
  FERRUM_ASSIGN_OR_RETURN(const std::string_view model, file.get_string_or("tokenizer.ggml.model", ""));
  FERRUM_ASSIGN_OR_RETURN(const std::string_view pre, file.get_string_or("tokenizer.ggml.pre", ""));
  summary.model = model;
  summary.pre = pre;
  summary.vocab_size = tokens->size();
  if (const GgufValue* merges = file.find("tokenizer.ggml.merges"); merges && merges->as_array()) {
    summary.merges = merges->as_array()->size();
  }
  summary.has_chat_template = file.find("tokenizer.chat_template") != nullptr;
  if (const GgufValue* add_bos = file.find("tokenizer.ggml.add_bos_token")) summary.add_bos = add_bos->as_bool();
  const std::pair<const char*, const char*> roles[] = {
      {"bos", "tokenizer.ggml.bos_token_id"},     {"eos", "tokenizer.ggml.eos_token_id"},
      {"eot", "tokenizer.ggml.eot_token_id"},     {"unk", "tokenizer.ggml.unknown_token_id"},
      {"pad", "tokenizer.ggml.padding_token_id"}, {"sep", "tokenizer.ggml.seperator_token_id"},
      {"cls", "tokenizer.ggml.cls_token_id"},     {"mask", "tokenizer.ggml.mask_token_id"},
  };
  for (const auto& [role, key] : roles) {
    const GgufValue* value = file.find(key);
    if (value == nullptr) continue;
    const std::optional<int64_t> id = value->as_int();
    SpecialToken token{role, id.value_or(-1), "(invalid id)"};
    if (id && *id >= 0 && static_cast<uint64_t>(*id) < tokens->size()) {
      token.text = tokens->strings()[static_cast<size_t>(*id)];
    }
    summary.special_tokens.push_back(std::move(token));
  }
  return std::optional<TokenizerSummary>(std::move(summary));
}

Expected<TokenizerSummary> summarize_tokenizer_json(const std::filesystem::path& tokenizer_json,
                                                    const std::optional<std::filesystem::path>& tokenizer_config) {
  FERRUM_ASSIGN_OR_RETURN(const nlohmann::json json, read_json_file(tokenizer_json));
  FERRUM_CHECK(json.is_object() && json.contains("model") && json["model"].is_object(), ErrorCode::kParse,
               tokenizer_json.string(), ": no \"model\" object");
  TokenizerSummary summary;
  const nlohmann::json& model = json["model"];
  summary.model = model.contains("type") && model["type"].is_string() ? model["type"].get<std::string>() : "?";
  if (model.contains("vocab") && (model["vocab"].is_object() || model["vocab"].is_array())) {
    summary.vocab_size = model["vocab"].size();
  }
  if (model.contains("merges") && model["merges"].is_array()) summary.merges = model["merges"].size();
  if (json.contains("added_tokens") && json["added_tokens"].is_array()) {
    for (const nlohmann::json& added : json["added_tokens"]) {
      if (!added.is_object() || !added.contains("id") || !added["id"].is_number_integer()) continue;
      const int64_t id = added["id"].get<int64_t>();
      // Added tokens past the base vocabulary grow it.
      if (id >= 0 && static_cast<size_t>(id) >= summary.vocab_size) summary.vocab_size = static_cast<size_t>(id) + 1;
      const bool special = added.contains("special") && added["special"].is_boolean() && added["special"].get<bool>();
      if (special && added.contains("content") && added["content"].is_string()) {
        summary.special_tokens.push_back({"special", id, added["content"].get<std::string>()});
      }
    }
  }
  if (tokenizer_config) {
    FERRUM_ASSIGN_OR_RETURN(const nlohmann::json config, read_json_file(*tokenizer_config));
    summary.has_chat_template = config.contains("chat_template") && !config["chat_template"].is_null();
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
      summary.add_bos = config["add_bos_token"].get<bool>();
    }
    for (const char* role : {"bos", "eos", "unk", "pad"}) {
      const std::optional<std::string> text = token_text(config, (std::string(role) + "_token").c_str());
      if (!text) continue;
      // Name the role on the matching added token, or list it on its own.
      auto it = std::find_if(summary.special_tokens.begin(), summary.special_tokens.end(),
                             [&](const SpecialToken& token) { return token.text == *text && token.role == "special"; });
      if (it != summary.special_tokens.end()) {
        it->role = role;
      } else {
        summary.special_tokens.push_back({role, -1, *text});
      }
    }
  }
  return summary;
}

}  // namespace ferrum
