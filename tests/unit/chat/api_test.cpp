// The public API around the interpreter: render_chat's variables, the clock, the mutation sandbox,
// template sourcing and the ChatML default.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/template_source.h"
#include "unit/chat/test_support.h"

namespace ferrum::chat {
namespace {

using json = nlohmann::ordered_json;

ChatTemplate parse_or_die(std::string_view source) {
  auto tmpl = ChatTemplate::parse(source);
  EXPECT_TRUE(tmpl) << tmpl.error().to_string();
  return std::move(*tmpl);
}

TEST(ChatTemplateApi, RenderChatPassesTransformersVariables) {
  const ChatTemplate tmpl = parse_or_die(
      "{{ bos_token is defined }}|{{ eos_token }}|{{ tools is none }}|{{ documents is none }}|"
      "{{ add_generation_prompt }}|{{ messages|length }}|{{ enable_thinking }}");
  ChatInputs inputs;
  inputs.messages = json::parse(R"([{"role": "user", "content": "hi"}])");
  inputs.eos_token = "</s>";
  inputs.add_generation_prompt = true;
  inputs.extra_context = {{"enable_thinking", false}};
  auto out = tmpl.render_chat(inputs);
  ASSERT_TRUE(out) << out.error().to_string();
  EXPECT_EQ(*out, "False|</s>|True|True|True|1|False");
}

TEST(ChatTemplateApi, OrderedJsonKeepsKeyOrderForTojson) {
  const ChatTemplate tmpl = parse_or_die("{{ tool|tojson }}");
  const std::string text = R"({"tool": {"name": "f", "description": "d", "parameters": {}}})";
  EXPECT_EQ(*tmpl.render(json::parse(text)), R"({"name": "f", "description": "d", "parameters": {}})");
  // Plain nlohmann::json sorts keys: documented, and the reason the ordered overload exists.
  EXPECT_EQ(*tmpl.render(nlohmann::json::parse(text)), R"({"description": "d", "name": "f", "parameters": {}})");
}

TEST(ChatTemplateApi, StrftimeNowUsesTheInjectedClock) {
  const ChatTemplate tmpl = parse_or_die("{{ strftime_now('%d %B %Y, %H:%M') }}");
  RenderOptions options;
  const std::tm fixed = testing::parse_timestamp("2025-01-02T03:04:05");
  options.now = [fixed] { return fixed; };
  EXPECT_EQ(*tmpl.render(json::object(), options), "02 January 2025, 03:04");
  EXPECT_TRUE(tmpl.render(json::object()));  // the system clock when none is injected
}

TEST(ChatTemplateApi, MutatingMethodsFollowTheSandboxSetting) {
  const ChatTemplate tmpl = parse_or_die(
      "{% set ns = namespace(items=[]) %}{% for m in messages %}{% set _ = ns.items.append(m.role) %}"
      "{% endfor %}{{ ns.items|join(',') }}");
  const json context = {{"messages", json::parse(R"([{"role": "user"}, {"role": "assistant"}])")}};
  auto refused = tmpl.render(context);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("'append' of 'list' object is unsafe"), std::string::npos);
  RenderOptions options;
  options.allow_mutating_methods = true;
  EXPECT_EQ(*tmpl.render(context, options), "user,assistant");
  // A list that contains itself is freed after the render (checked by LeakSanitizer in sanitized builds).
  const ChatTemplate cycle = parse_or_die("{% set l = [] %}{% set _ = l.append(l) %}{{ l|length }}");
  EXPECT_EQ(*cycle.render(json::object(), options), "1");
}

TEST(ChatTemplateApi, GenerationBlocksRenderTheirBody) {
  const ChatTemplate tmpl = parse_or_die(
      "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}"
      "{% else %}[{{ m.content }}]{% endif %}{% endfor %}");
  const json context = {{"messages", json::parse(R"([{"role": "user", "content": "q"},
                                                    {"role": "assistant", "content": "a"}])")}};
  EXPECT_EQ(*tmpl.render(context), "[q]a");
}

TEST(ChatTemplateApi, TemplatesAreReusableAcrossRenders) {
  const ChatTemplate tmpl = parse_or_die("{% set ns = namespace(n=0) %}{% set ns.n = ns.n + x %}{{ ns.n }}");
  EXPECT_EQ(*tmpl.render(json{{"x", 1}}), "1");
  EXPECT_EQ(*tmpl.render(json{{"x", 2}}), "2");
  const ChatTemplate copy = tmpl;  // copies share the parsed template
  EXPECT_EQ(*copy.render(json{{"x", 3}}), "3");
}

TEST(ChatTemplateApi, DefaultTemplateIsChatML) {
  const ChatTemplate tmpl = parse_or_die(default_chat_template());
  ChatInputs inputs;
  inputs.messages = json::parse(R"([{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "Hi"},
                                    {"role": "assistant", "content": null}])");
  inputs.add_generation_prompt = true;
  EXPECT_EQ(*tmpl.render_chat(inputs),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateSources, TokenizerConfigStringOrNamedList) {
  auto single = chat_templates_from_tokenizer_config(nlohmann::json::parse(R"({"chat_template": "T"})"));
  ASSERT_TRUE(single);
  EXPECT_EQ(*single->select(), "T");
  EXPECT_EQ(*single->select({}, /*has_tools=*/true), "T");

  auto listed = chat_templates_from_tokenizer_config(nlohmann::json::parse(
      R"({"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "U"},
                            {"name": "rag", "template": "R"}]})"));
  ASSERT_TRUE(listed);
  EXPECT_EQ(*listed->select(), "D");
  EXPECT_EQ(*listed->select({}, true), "U");
  EXPECT_EQ(*listed->select("rag"), "R");
  EXPECT_EQ(listed->select("nope").error().code(), ErrorCode::kNotFound);

  auto no_default = chat_templates_from_tokenizer_config(
      nlohmann::json::parse(R"({"chat_template": [{"name": "tool_use", "template": "U"}]})"));
  EXPECT_EQ(no_default->select().error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(chat_templates_from_tokenizer_config(nlohmann::json::parse("{}"))->empty());
  EXPECT_FALSE(chat_templates_from_tokenizer_config(nlohmann::json::parse(R"({"chat_template": 3})")));
}

TEST(ChatTemplateSources, GgufMetadataAndSpecialTokens) {
  const ChatTemplateSet set = chat_templates_from_gguf_metadata(
      {{"general.name", "x"}, {"tokenizer.chat_template", "D"}, {"tokenizer.chat_template.tool_use", "U"}});
  EXPECT_EQ(set.default_template, "D");
  ASSERT_EQ(set.named.size(), 1u);
  EXPECT_EQ(*set.select({}, true), "U");

  const auto config = nlohmann::json::parse(
      R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null})");
  EXPECT_EQ(special_token_from_config(config, "bos_token"), "<s>");
  EXPECT_EQ(special_token_from_config(config, "eos_token"), "</s>");
  EXPECT_EQ(special_token_from_config(config, "pad_token"), std::nullopt);
  EXPECT_EQ(special_token_from_config(config, "unk_token"), std::nullopt);
}

TEST(ChatTemplateSources, FilesAndModelDirectories) {
  // The Qwen3 tokenizer_config.json in the shared fixtures carries the same template as the .jinja file.
  const std::string fixtures = FERRUM_FIXTURES_DIR;
  auto from_dir = load_chat_templates_from_directory(fixtures + "/tokenizer/qwen3");
  ASSERT_TRUE(from_dir) << from_dir.error().to_string();
  EXPECT_EQ(*from_dir->select(), testing::read_file(fixtures + "/chat-templates/Qwen-Qwen3-0.6B.jinja"));
  auto from_jinja = load_chat_template_file(fixtures + "/chat-templates/google-gemma-2-2b-it.jinja");
  ASSERT_TRUE(from_jinja);
  EXPECT_NE(from_jinja->default_template.find("<start_of_turn>"), std::string::npos);
  EXPECT_EQ(load_chat_template_file("/nonexistent/x.jinja").error().code(), ErrorCode::kIo);

  const auto dir = std::filesystem::temp_directory_path() / "ferrum_chat_template_dir_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "from config"})";
  EXPECT_EQ(*load_chat_templates_from_directory(dir.string())->select(), "from config");
  std::ofstream(dir / "chat_template.jinja") << "from jinja file";
  EXPECT_EQ(*load_chat_templates_from_directory(dir.string())->select(), "from jinja file");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ferrum::chat
