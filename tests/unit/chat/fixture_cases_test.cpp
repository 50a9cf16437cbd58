// Renders every case of ../shared/fixtures/chat-templates/cases.json (real model templates, goldens
// rendered by Jinja2 as transformers renders them) and requires byte-exact output, or a failure where
// Python raised.
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"

namespace ferrum::chat {
namespace {

const std::string kFixtures = std::string(FERRUM_FIXTURES_DIR) + "/chat-templates/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// "2024-07-26T00:00:00" as broken-down time, for strftime_now.
std::tm parse_timestamp(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  std::time_t t = timegm(&tm);
  gmtime_r(&t, &tm);  // fills in the weekday and day of the year
  return tm;
}

// Shows where two renderings part: byte offset, line, and a window of each around it.
std::string describe_difference(const std::string& expected, const std::string& actual) {
  size_t at = 0;
  while (at < expected.size() && at < actual.size() && expected[at] == actual[at]) ++at;
  const size_t line = 1 + static_cast<size_t>(std::count(expected.begin(), expected.begin() + at, '\n'));
  const size_t from = at > 40 ? at - 40 : 0;
  auto window = [&](const std::string& s) {
    return nlohmann::json(s.substr(std::min(from, s.size()), 100))
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::ostringstream out;
  out << "first difference at byte " << at << " (line " << line << "; expected " << expected.size() << " bytes, got "
      << actual.size() << ")\n    expected: " << window(expected) << "\n    actual:   " << window(actual);
  return out.str();
}

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
