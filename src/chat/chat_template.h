// Chat templates: the Jinja2 programs Hugging Face models ship to turn a conversation into a prompt.
// ChatTemplate parses one and renders it byte-for-byte as transformers' apply_chat_template(...,
// tokenize=False) does (Jinja2 with trim_blocks, lstrip_blocks and transformers' tojson).
//
//   FERRUM_ASSIGN_OR_RETURN(auto tmpl, chat::ChatTemplate::parse(source));
//   chat::ChatInputs inputs;
//   inputs.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "Hi"}])");
//   inputs.add_generation_prompt = true;
//   FERRUM_ASSIGN_OR_RETURN(std::string prompt, tmpl.render_chat(inputs));
//
// JSON objects keep their key order only in nlohmann::ordered_json; tojson prints keys in that order,
// so pass ordered_json where tool schemas or tool-call arguments reach the template.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/render_options.h"
#include "core/error.h"

namespace ferrum::chat {

struct TemplateAst;
class Value;

// The variables transformers passes to a chat template.
struct ChatInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  // null renders as tools=None, which is what transformers passes when no tools are given.
  nlohmann::ordered_json tools = nullptr;
  nlohmann::ordered_json documents = nullptr;
  bool add_generation_prompt = false;
  // nullopt: the variable is not passed at all (undefined in the template), as for a None token.
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  // Further template variables (enable_thinking, date_string, ...); they override the ones above.
  nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  // Syntax errors are ErrorCode::kParse and name the line and column. `name` (a file or model) is
  // used in error messages.
  static Expected<ChatTemplate> parse(std::string_view source, std::string name = "chat template");

  // Renders with `context` (a JSON object) as the template's variables. Runtime errors name the
  // template line: a template's raise_exception(message) fails with kInvalidArgument carrying
  // `message`; exceeded RenderLimits fail with kLimitExceeded. Safe to call from several threads.
  Expected<std::string> render(const nlohmann::ordered_json& context, const RenderOptions& options = {}) const;
  // Plain nlohmann::json sorts object keys; prefer the ordered_json overload (see above).
  Expected<std::string> render(const nlohmann::json& context, const RenderOptions& options = {}) const;
  Expected<std::string> render_chat(const ChatInputs& inputs, const RenderOptions& options = {}) const;

  const std::string& name() const;
  const std::string& source() const;

 private:
  struct Parsed;
  explicit ChatTemplate(std::shared_ptr<const Parsed> parsed) : parsed_(std::move(parsed)) {}
  Expected<std::string> render_value_context(const Value& context, const RenderOptions& options) const;

  std::shared_ptr<const Parsed> parsed_;
};

// ChatML (<|im_start|>role\ncontent<|im_end|>), for models that ship no template. Non-string content
// (null, or a list of parts) renders as empty text.
std::string_view default_chat_template();

}  // namespace ferrum::chat
