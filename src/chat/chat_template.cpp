#include "chat/chat_template.h"

#include <exception>

#include "chat/ast.h"
#include "chat/json_value.h"
#include "chat/lexer.h"
#include "chat/parser.h"
#include "chat/renderer.h"

namespace ferrum::chat {

struct ChatTemplate::Parsed {
  std::string name;
  std::string source;      // as given
  std::string normalized;  // universal newlines, final newline dropped: what the lexer read
  TemplateAst ast;
};

Expected<ChatTemplate> ChatTemplate::parse(std::string_view source, std::string name) {
  const std::string context = cat("chat template '", name, "'");
  try {
    auto parsed = std::make_shared<Parsed>();
    parsed->name = std::move(name);
    parsed->source = std::string(source);
    parsed->normalized = normalize_template_source(source);
    const SourceLocator locator(parsed->normalized);
    auto tokens = tokenize_template(parsed->normalized, locator);
    if (!tokens) return std::move(tokens).error().with_context(context);
    auto ast = parse_template(*tokens, locator);
    if (!ast) return std::move(ast).error().with_context(context);
    parsed->ast = std::move(*ast);
    return ChatTemplate(std::move(parsed));
  } catch (const std::exception& e) {  // allocation failure; nothing else in the parser throws
    return make_error(ErrorCode::kInternal, context, ": ", e.what());
  }
}

Expected<std::string> ChatTemplate::render_value_context(const Value& context, const RenderOptions& options) const {
  FERRUM_CHECK(context.is_dict(), ErrorCode::kInvalidArgument, "rendering chat template '", parsed_->name,
               "': the context must be a JSON object");
  try {
    Renderer renderer(options);
    auto output = renderer.render(parsed_->ast, context.as_dict());
    if (!output) return std::move(output).error().with_context(cat("rendering chat template '", parsed_->name, "'"));
    return output;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, "rendering chat template '", parsed_->name, "': ", e.what());
  }
}

Expected<std::string> ChatTemplate::render(const nlohmann::ordered_json& context, const RenderOptions& options) const {
  FERRUM_ASSIGN_OR_RETURN(Value value, value_from_json(context));
  return render_value_context(value, options);
}

Expected<std::string> ChatTemplate::render(const nlohmann::json& context, const RenderOptions& options) const {
  FERRUM_ASSIGN_OR_RETURN(Value value, value_from_json(context));
  return render_value_context(value, options);
}

// Converts each input straight to template values (no intermediate JSON object), in the order
// transformers passes them; extra variables come last and override.
Expected<std::string> ChatTemplate::render_chat(const ChatInputs& inputs, const RenderOptions& options) const {
  Dict context;
  auto add_json = [&](std::string_view name, const nlohmann::ordered_json& json) -> Status {
    FERRUM_ASSIGN_OR_RETURN(Value value, value_from_json(json));
    context.set(Value::string(std::string(name)), std::move(value));
    return ok();
  };
  FERRUM_TRY(add_json("messages", inputs.messages));
  FERRUM_TRY(add_json("tools", inputs.tools));
  FERRUM_TRY(add_json("documents", inputs.documents));
  context.set(Value::string("add_generation_prompt"), Value::boolean(inputs.add_generation_prompt));
  if (inputs.bos_token) context.set(Value::string("bos_token"), Value::string(*inputs.bos_token));
  if (inputs.eos_token) context.set(Value::string("eos_token"), Value::string(*inputs.eos_token));
  FERRUM_CHECK(inputs.extra_context.is_object() || inputs.extra_context.is_null(), ErrorCode::kInvalidArgument,
               "ChatInputs::extra_context must be a JSON object");
  if (inputs.extra_context.is_object()) {
    for (const auto& [key, value] : inputs.extra_context.items()) FERRUM_TRY(add_json(key, value));
  }
  return render_value_context(Value::dict(std::move(context)), options);
}

const std::string& ChatTemplate::name() const {
  return parsed_->name;
}

const std::string& ChatTemplate::source() const {
  return parsed_->source;
}

std::string_view default_chat_template() {
  return "{%- for message in messages -%}\n"
         "{{- '<|im_start|>' + message['role'] + '\\n' -}}\n"
         "{{- message['content'] if message['content'] is string else '' -}}\n"
         "{{- '<|im_end|>\\n' -}}\n"
         "{%- endfor -%}\n"
         "{%- if add_generation_prompt -%}\n"
         "{{- '<|im_start|>assistant\\n' -}}\n"
         "{%- endif -%}\n";
}

}  // namespace ferrum::chat
