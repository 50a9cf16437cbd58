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

nlohmann::ordered_json make_chat_context(const ChatInputs& inputs) {
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  context["messages"] = inputs.messages;
  context["tools"] = inputs.tools;
  context["documents"] = inputs.documents;
  context["add_generation_prompt"] = inputs.add_generation_prompt;
  if (inputs.bos_token) context["bos_token"] = *inputs.bos_token;
  if (inputs.eos_token) context["eos_token"] = *inputs.eos_token;
  if (inputs.extra_context.is_object()) {
    for (const auto& [key, value] : inputs.extra_context.items()) context[key] = value;
  }
  return context;
}

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

Expected<std::string> ChatTemplate::render_chat(const ChatInputs& inputs, const RenderOptions& options) const {
  return render(make_chat_context(inputs), options);
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
