// Renders every case of ../shared/fixtures/chat-templates/cases.json (real model templates, goldens
// rendered by Jinja2 as transformers renders them) and requires byte-exact output, or a failure where
// Python raised.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "unit/chat/test_support.h"

namespace ferrum::chat {
namespace {

using testing::describe_difference;
using testing::parse_timestamp;
using testing::read_file;

const std::string kFixtures = std::string(FERRUM_FIXTURES_DIR) + "/chat-templates/";

TEST(ChatTemplateFixtures, RenderEveryCaseByteExact) {
  const auto cases = nlohmann::ordered_json::parse(read_file(kFixtures + "cases.json"));
  ASSERT_TRUE(cases.is_array());
  int passed = 0;
  std::ostringstream failures;
  for (const auto& c : cases) {
    const std::string id = c["id"];
    auto tmpl = ChatTemplate::parse(read_file(kFixtures + c["template"].get<std::string>()), c["template"]);
    if (!tmpl) {
      failures << id << ": parse failed: " << tmpl.error().to_string() << "\n";
      continue;
    }
    ChatInputs inputs;
    inputs.messages = c["messages"];
    inputs.tools = c["tools"];
    inputs.add_generation_prompt = c["add_generation_prompt"];
    if (c["bos_token"].is_string()) inputs.bos_token = c["bos_token"].get<std::string>();
    if (c["eos_token"].is_string()) inputs.eos_token = c["eos_token"].get<std::string>();
    inputs.extra_context = c["extra_context"];
    RenderOptions options;
    const std::tm now = parse_timestamp(c["now"]);
    options.now = [now] { return now; };
    auto rendered = tmpl->render_chat(inputs, options);
    if (c.contains("expected_error")) {
      const std::string type = c["expected_error"]["type"];
      const std::string message = c["expected_error"]["message"];
      if (rendered) {
        failures << id << ": expected " << type << " (" << message << "), but rendering succeeded\n";
      } else if (type == "TemplateError" && rendered.error().message().find(message) == std::string::npos) {
        // raise_exception messages are golden data; Python's own TypeErrors only have to fail.
        failures << id << ": error message lacks \"" << message << "\": " << rendered.error().message() << "\n";
      } else {
        ++passed;
      }
      continue;
    }
    const std::string expected = c["expected"];
    if (!rendered) {
      failures << id << ": render failed: " << rendered.error().to_string() << "\n";
    } else if (*rendered != expected) {
      failures << id << ": " << describe_difference(expected, *rendered) << "\n";
    } else {
      ++passed;
    }
  }
  std::printf("chat template fixtures: %d/%zu cases passed\n", passed, cases.size());
  EXPECT_EQ(passed, static_cast<int>(cases.size())) << failures.str();
}

}  // namespace
}  // namespace ferrum::chat
