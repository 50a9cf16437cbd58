#include "cli/commands.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/template_source.h"

namespace ferrum::cli {
namespace {

constexpr const char* kUsage =
    "usage: ferrum render-chat [MODEL] --render-chat INPUT.json [--chat-template FILE] [--template-name NAME]\n"
    "                          [--add-generation-prompt | --no-generation-prompt] [--bos-token S] [--eos-token S]\n"
    "  MODEL                  a model directory (chat_template.jinja or tokenizer_config.json)\n"
    "                         or a tokenizer_config.json; also supplies bos_token / eos_token\n"
    "  --render-chat FILE     JSON: a list of messages, or {\"messages\": [...], \"tools\": [...],\n"
    "                         \"add_generation_prompt\": true, ...}; other keys become template variables\n"
    "  --chat-template FILE   a .jinja template, or a tokenizer_config.json / chat_template.json\n"
    "  --template-name NAME   pick a named template (default, tool_use, ...)\n"
    "Without any template the ChatML default is used. The prompt is printed exactly, without a newline.\n";

struct Options {
  std::string model;
  std::string input_path;
  std::string template_path;
  std::string template_name;
  std::optional<bool> add_generation_prompt;
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
};

Expected<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> Expected<std::string> {
      FERRUM_CHECK(i + 1 < argc, ErrorCode::kInvalidArgument, arg, " needs a value");
      return std::string(argv[++i]);
    };
    if (arg == "--render-chat") {
      FERRUM_ASSIGN_OR_RETURN(options.input_path, value());
    } else if (arg == "--chat-template") {
      FERRUM_ASSIGN_OR_RETURN(options.template_path, value());
    } else if (arg == "--template-name") {
      FERRUM_ASSIGN_OR_RETURN(options.template_name, value());
    } else if (arg == "--bos-token") {
      FERRUM_ASSIGN_OR_RETURN(options.bos_token, value());
    } else if (arg == "--eos-token") {
      FERRUM_ASSIGN_OR_RETURN(options.eos_token, value());
    } else if (arg == "--add-generation-prompt") {
      options.add_generation_prompt = true;
    } else if (arg == "--no-generation-prompt") {
      options.add_generation_prompt = false;
    } else if (!arg.starts_with("--") && options.model.empty()) {
      options.model = std::string(arg);
    } else {
      return make_error(ErrorCode::kInvalidArgument, "unexpected argument '", arg, "'");
    }
  }
  FERRUM_CHECK(!options.input_path.empty(), ErrorCode::kInvalidArgument, "--render-chat INPUT.json is required");
  return options;
}

Expected<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FERRUM_CHECK(in.good(), ErrorCode::kIo, "cannot open '", path, "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// ordered_json keeps key order, which tojson reproduces in the prompt.
template <class Json = nlohmann::ordered_json>
Expected<Json> read_json(const std::string& path) {
  FERRUM_ASSIGN_OR_RETURN(std::string text, read_text(path));
  auto json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  FERRUM_CHECK(!json.is_discarded(), ErrorCode::kParse, "'", path, "' is not valid JSON");
  return json;
}

// The conversation file: a bare list of messages, or an object with messages and other variables.
Expected<chat::ChatInputs> read_inputs(const std::string& path) {
  FERRUM_ASSIGN_OR_RETURN(nlohmann::ordered_json json, read_json(path));
  chat::ChatInputs inputs;
  if (json.is_array()) {
    inputs.messages = std::move(json);
    inputs.add_generation_prompt = true;
    return inputs;
  }
  FERRUM_CHECK(json.is_object() && json.contains("messages"), ErrorCode::kInvalidArgument, "'", path,
               "' must hold a list of messages or an object with \"messages\"");
  for (auto& [key, value] : json.items()) {
    if (key == "messages") {
      inputs.messages = value;
    } else if (key == "tools") {
      inputs.tools = value;
    } else if (key == "documents") {
      inputs.documents = value;
    } else if (key == "add_generation_prompt") {
      inputs.add_generation_prompt = value.is_boolean() && value.get<bool>();
    } else if ((key == "bos_token" || key == "eos_token") && (value.is_string() || value.is_null())) {
      auto& token = key == "bos_token" ? inputs.bos_token : inputs.eos_token;
      token = value.is_string() ? std::optional<std::string>(value.get<std::string>()) : std::nullopt;
    } else {
      inputs.extra_context[key] = value;
    }
  }
  return inputs;
}

// The templates and special tokens of MODEL (a directory or a tokenizer_config.json).
Status load_model(const std::string& model, chat::ChatTemplateSet& templates, chat::ChatInputs& inputs) {
  std::filesystem::path config_path = model;
  if (std::filesystem::is_directory(config_path)) {
    FERRUM_ASSIGN_OR_RETURN(templates, chat::load_chat_templates_from_directory(model));
    config_path /= "tokenizer_config.json";
  } else {
    FERRUM_CHECK(config_path.extension() == ".json", ErrorCode::kUnsupported, "'", model,
                 "': give a model directory or tokenizer_config.json (for GGUF files pass --chat-template)");
    FERRUM_ASSIGN_OR_RETURN(templates, chat::load_chat_template_file(model));
  }
  if (std::filesystem::exists(config_path)) {
    FERRUM_ASSIGN_OR_RETURN(nlohmann::json config, read_json<nlohmann::json>(config_path.string()));
    if (!inputs.bos_token) inputs.bos_token = chat::special_token_from_config(config, "bos_token");
    if (!inputs.eos_token) inputs.eos_token = chat::special_token_from_config(config, "eos_token");
  }
  return ok();
}

Expected<std::string> render(const Options& options) {
  FERRUM_ASSIGN_OR_RETURN(chat::ChatInputs inputs, read_inputs(options.input_path));
  if (options.add_generation_prompt) inputs.add_generation_prompt = *options.add_generation_prompt;
  if (options.bos_token) inputs.bos_token = options.bos_token;
  if (options.eos_token) inputs.eos_token = options.eos_token;
  chat::ChatTemplateSet templates;
  if (!options.model.empty()) FERRUM_TRY(load_model(options.model, templates, inputs));
  if (!options.template_path.empty()) {
    FERRUM_ASSIGN_OR_RETURN(templates, chat::load_chat_template_file(options.template_path));
  }
  std::string source;
  std::string name = options.template_path.empty() ? options.model : options.template_path;
  if (templates.empty()) {
    std::fprintf(stderr, "ferrum render-chat: no chat template found; using the ChatML default\n");
    source = std::string(chat::default_chat_template());
    name = "ChatML default";
  } else {
    const bool has_tools = inputs.tools.is_array() && !inputs.tools.empty();
    FERRUM_ASSIGN_OR_RETURN(source, templates.select(options.template_name, has_tools));
  }
  FERRUM_ASSIGN_OR_RETURN(chat::ChatTemplate tmpl, chat::ChatTemplate::parse(source, name));
  return tmpl.render_chat(inputs);
}

}  // namespace

int run_render_chat(int argc, char** argv) {
  auto options = parse_options(argc, argv);
  if (!options) {
    std::fprintf(stderr, "ferrum render-chat: %s\n%s", options.error().message().c_str(), kUsage);
    return 2;
  }
  auto prompt = render(*options);
  if (!prompt) {
    std::fprintf(stderr, "ferrum render-chat: %s\n", prompt.error().to_string().c_str());
    return 1;
  }
  std::fwrite(prompt->data(), 1, prompt->size(), stdout);
  return 0;
}

}  // namespace ferrum::cli
