// Jinja2 conformance: snippets covering whitespace control, literals, operators, filters, tests,
// methods, loops, macros and errors, each with the output Jinja2 itself produced in transformers'
// environment (tests/unit/chat/make_conformance.py writes jinja_conformance.json).
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "unit/chat/test_support.h"

namespace ferrum::chat {
namespace {

TEST(ChatTemplateConformance, MatchesJinja2) {
  const auto suite = nlohmann::ordered_json::parse(
      testing::read_file(std::string(FERRUM_SOURCE_DIR) + "/tests/unit/chat/jinja_conformance.json"));
  const std::tm now = testing::parse_timestamp(suite["now"]);
  RenderOptions options;
  options.now = [now] { return now; };
  int passed = 0;
  std::ostringstream failures;
  for (const auto& c : suite["cases"]) {
    const std::string source = c["template"];
    const std::string label = nlohmann::json(source).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto tmpl = ChatTemplate::parse(source, "snippet");
    Expected<std::string> rendered =
        tmpl ? tmpl->render(suite["context"], options) : Expected<std::string>(tmpl.error());
    if (c.contains("error")) {
      const std::string type = c["error"]["type"];
      const std::string message = c["error"]["message"];
      const bool syntax = type == "TemplateSyntaxError" || type == "SyntaxError";
      if (rendered) {
        failures << label << ": Jinja2 raised " << type << " (" << message << "), we rendered "
                 << nlohmann::json(*rendered).dump() << "\n";
      } else if (syntax && tmpl) {
        failures << label << ": Jinja2 rejects this at parse time (" << message
                 << "); we parsed it and failed later: " << rendered.error().to_string() << "\n";
      } else if (type == "TemplateError" && rendered.error().message().find(message) == std::string::npos) {
        failures << label << ": error lacks the template's message \"" << message
                 << "\": " << rendered.error().to_string() << "\n";
      } else {
        ++passed;
      }
      continue;
    }
    const std::string expected = c["expected"];
    if (!rendered) {
      failures << label << ": failed: " << rendered.error().to_string() << "\n";
    } else if (*rendered != expected) {
      failures << label << ": " << testing::describe_difference(expected, *rendered) << "\n";
    } else {
      ++passed;
    }
  }
  std::printf("jinja2 conformance: %d/%zu snippets match\n", passed, suite["cases"].size());
  EXPECT_EQ(passed, static_cast<int>(suite["cases"].size())) << failures.str();
}

}  // namespace
}  // namespace ferrum::chat
