// Where a model's chat template comes from: GGUF metadata, tokenizer_config.json, a
// chat_template.jinja file, or a file given with --chat-template. A model may ship several named
// templates ("default", "tool_use", "rag"); select() picks one the way transformers does.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ferrum::chat {

struct ChatTemplateSet {
  // The unnamed template (a plain string in tokenizer_config.json, tokenizer.chat_template in GGUF),
  // or the one named "default". Empty when the model ships none.
  std::string default_template;
  // Named templates in the order the model lists them ("default" included when listed).
  std::vector<std::pair<std::string, std::string>> named;

  bool empty() const { return default_template.empty() && named.empty(); }
  const std::string* find(std::string_view name) const;
  // transformers' choice: `name` when given; else "tool_use" when the request has tools and the model
  // ships one; else the default. kNotFound when that does not exist (callers may then fall back to
  // default_chat_template()).
  Expected<std::string> select(std::string_view name = {}, bool has_tools = false) const;
};

// tokenizer_config.json's "chat_template": a string, or a list of {"name": ..., "template": ...}.
// An absent or null "chat_template" gives an empty set.
Expected<ChatTemplateSet> chat_templates_from_tokenizer_config(const nlohmann::json& config);

// GGUF metadata: "tokenizer.chat_template" is the default, "tokenizer.chat_template.<name>" the named
// ones. Pass the string-valued metadata entries; other keys are ignored.
ChatTemplateSet chat_templates_from_gguf_metadata(const std::vector<std::pair<std::string, std::string>>& metadata);

// A template file: *.json is read as a tokenizer_config.json (or a chat_template.json holding
// "chat_template"); anything else is the Jinja source itself.
Expected<ChatTemplateSet> load_chat_template_file(const std::string& path);

// A Hugging Face model directory: chat_template.jinja (newer transformers) takes precedence over the
// template in tokenizer_config.json, as in transformers.
Expected<ChatTemplateSet> load_chat_templates_from_directory(const std::string& directory);

// bos_token / eos_token of a tokenizer_config.json: a string, or an AddedToken object
// {"content": "<s>", ...}. nullopt when absent or null.
std::optional<std::string> special_token_from_config(const nlohmann::json& config, std::string_view key);

}  // namespace ferrum::chat
