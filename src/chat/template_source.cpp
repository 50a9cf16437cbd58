#include "chat/template_source.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ferrum::chat {
namespace {

constexpr std::string_view kGgufTemplateKey = "tokenizer.chat_template";

Expected<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FERRUM_CHECK(in.good(), ErrorCode::kIo, "cannot open chat template file '", path, "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  FERRUM_CHECK(!in.bad(), ErrorCode::kIo, "cannot read chat template file '", path, "'");
  return buffer.str();
}

Expected<nlohmann::json> read_json_file(const std::string& path) {
  FERRUM_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  FERRUM_CHECK(!json.is_discarded(), ErrorCode::kParse, "'", path, "' is not valid JSON");
  return json;
}

}  // namespace

const std::string* ChatTemplateSet::find(std::string_view name) const {
  for (const auto& [template_name, source] : named) {
    if (template_name == name) return &source;
  }
  return nullptr;
}

Expected<std::string> ChatTemplateSet::select(std::string_view name, bool has_tools) const {
  if (!name.empty()) {
    if (const std::string* source = find(name)) return *source;
    std::string available;
    for (const auto& entry : named) available += (available.empty() ? "" : ", ") + entry.first;
    return make_error(ErrorCode::kNotFound, "the model has no chat template named '", name,
                      "' (it has: ", available.empty() ? "no named templates" : available, ")");
  }
  if (has_tools) {
    if (const std::string* source = find("tool_use")) return *source;
  }
  if (!default_template.empty()) return default_template;
  FERRUM_CHECK(named.empty(), ErrorCode::kNotFound,
               "the model has several chat templates and none is named 'default'; pick one by name");
  return make_error(ErrorCode::kNotFound, "the model ships no chat template");
}

Expected<ChatTemplateSet> chat_templates_from_tokenizer_config(const nlohmann::json& config) {
  ChatTemplateSet set;
  FERRUM_CHECK(config.is_object(), ErrorCode::kParse, "tokenizer config is not a JSON object");
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return set;
  if (it->is_string()) {
    set.default_template = it->get<std::string>();
    return set;
  }
  FERRUM_CHECK(it->is_array(), ErrorCode::kParse, "\"chat_template\" must be a string or a list of {name, template}");
  for (const auto& entry : *it) {
    const bool valid = entry.is_object() && entry.contains("name") && entry["name"].is_string() &&
                       entry.contains("template") && entry["template"].is_string();
    FERRUM_CHECK(valid, ErrorCode::kParse, "\"chat_template\" list entries must be {\"name\": str, \"template\": str}");
    const std::string name = entry["name"].get<std::string>();
    const std::string source = entry["template"].get<std::string>();
    if (name == "default") set.default_template = source;
    set.named.emplace_back(name, source);
  }
  return set;
}

ChatTemplateSet chat_templates_from_gguf_metadata(const std::vector<std::pair<std::string, std::string>>& metadata) {
  ChatTemplateSet set;
  for (const auto& [key, value] : metadata) {
    if (key == kGgufTemplateKey) {
      set.default_template = value;
    } else if (key.size() > kGgufTemplateKey.size() + 1 && key.starts_with(kGgufTemplateKey) &&
               key[kGgufTemplateKey.size()] == '.') {
      set.named.emplace_back(key.substr(kGgufTemplateKey.size() + 1), value);
    }
  }
  return set;
}

Expected<ChatTemplateSet> load_chat_template_file(const std::string& path) {
  if (std::filesystem::path(path).extension() != ".json") {
    ChatTemplateSet set;
    FERRUM_ASSIGN_OR_RETURN(set.default_template, read_text_file(path));
    return set;
  }
  FERRUM_ASSIGN_OR_RETURN(nlohmann::json config, read_json_file(path));
  auto set = chat_templates_from_tokenizer_config(config);
  if (!set) return std::move(set).error().with_context(path);
  FERRUM_CHECK(!set->empty(), ErrorCode::kNotFound, "'", path, "' has no \"chat_template\"");
  return set;
}

Expected<ChatTemplateSet> load_chat_templates_from_directory(const std::string& directory) {
  const std::filesystem::path dir(directory);
  std::error_code ignored;
  if (std::filesystem::exists(dir / "chat_template.jinja", ignored)) {
    ChatTemplateSet set;
    FERRUM_ASSIGN_OR_RETURN(set.default_template, read_text_file((dir / "chat_template.jinja").string()));
    return set;
  }
  if (std::filesystem::exists(dir / "chat_template.json", ignored)) {
    return load_chat_template_file((dir / "chat_template.json").string());
  }
  const std::filesystem::path config = dir / "tokenizer_config.json";
  FERRUM_CHECK(std::filesystem::exists(config, ignored), ErrorCode::kNotFound, "'", directory,
               "' has no chat_template.jinja, chat_template.json or tokenizer_config.json");
  FERRUM_ASSIGN_OR_RETURN(nlohmann::json json, read_json_file(config.string()));
  return chat_templates_from_tokenizer_config(json);
}

std::optional<std::string> special_token_from_config(const nlohmann::json& config, std::string_view key) {
  if (!config.is_object()) return std::nullopt;
  auto it = config.find(std::string(key));
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  return std::nullopt;
}

}  // namespace ferrum::chat
