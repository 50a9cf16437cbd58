// Syntax errors name line and column, runtime errors name the line, and runaway templates stop at
// the render limits with kLimitExceeded instead of hanging or exhausting memory or the stack.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"

namespace ferrum::chat {
namespace {

Expected<std::string> render(std::string_view source, const RenderOptions& options = {},
                             const nlohmann::ordered_json& context = nlohmann::ordered_json::object()) {
  FERRUM_ASSIGN_OR_RETURN(ChatTemplate tmpl, ChatTemplate::parse(source, "test.jinja"));
  return tmpl.render(context, options);
}

void expect_parse_error(std::string_view source, std::string_view where, std::string_view what) {
  auto tmpl = ChatTemplate::parse(source, "test.jinja");
  ASSERT_FALSE(tmpl) << source;
  EXPECT_EQ(tmpl.error().code(), ErrorCode::kParse) << tmpl.error().to_string();
  EXPECT_NE(tmpl.error().message().find(where), std::string::npos) << tmpl.error().message();
  EXPECT_NE(tmpl.error().message().find(what), std::string::npos) << tmpl.error().message();
}

TEST(ChatTemplateErrors, SyntaxErrorsNameLineAndColumn) {
  expect_parse_error("line one\n{{ 1 + }}", "line 2, column 8", "unexpected '}}'");
  expect_parse_error("{% if x %}\n  text\n", "line 2, column 7", "expected 'elif', 'else' or 'endif'");
  expect_parse_error("{% for x in y %}\n{% endif %}", "line 2, column 4", "unexpected tag 'endif'");
  expect_parse_error("a\nb {{ x | nosuch }}", "line 2, column 10", "no filter named 'nosuch'");
  expect_parse_error("{{ x is nosuch }}", "line 1, column 9", "no test named 'nosuch'");
  expect_parse_error("\n\n   {# never closed", "line 3, column 4", "missing end of comment");
  expect_parse_error("{{ 'abc }}", "line 1, column 4", "unterminated string");
  expect_parse_error("{% break %}", "line 1, column 4", "outside of a for loop");
  expect_parse_error("{{ (1 }}", "line 1, column 7", "expected ')'");
  expect_parse_error("{% include 'x' %}", "line 1, column 4", "not supported");
  expect_parse_error("{{ 'é' ~ € }}", "line 1, column 10", "unexpected character '€'");
  EXPECT_NE(ChatTemplate::parse("{{ ", "model/x.jinja").error().message().find("chat template 'model/x.jinja'"),
            std::string::npos);
}

TEST(ChatTemplateErrors, RuntimeErrorsNameTheLine) {
  auto result = render("ok\n{% set x = 1 %}\n{{ x + 'a' }}");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(result.error().message().find("line 3: unsupported operand type(s) for +: 'int' and 'str'"),
            std::string::npos)
      << result.error().message();

  // Inside a macro, the line is the macro body's line.
  result = render("{% macro m() %}\n{{ none.x.y }}\n{% endmacro %}\n\n{{ m() }}");
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("line 2: 'None' has no attribute 'x'"), std::string::npos)
      << result.error().message();

  result = render("{% for m in messages %}{% endfor %}", {}, {{"messages", nullptr}});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("'NoneType' object is not iterable"), std::string::npos);
}

TEST(ChatTemplateErrors, RaiseExceptionCarriesTheTemplatesMessage) {
  auto result = render("{{ raise_exception('Conversation roles must alternate') }}");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.error().message(),
            "rendering chat template 'test.jinja': line 1: Conversation roles must alternate");
}

TEST(ChatTemplateLimits, LoopIterationsAreBounded) {
  RenderOptions options;
  options.limits.max_loop_iterations = 1000;
  auto result = render("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimitExceeded);
  EXPECT_NE(result.error().message().find("max_loop_iterations=1000"), std::string::npos);
  EXPECT_TRUE(render("{% for i in range(30) %}{% for j in range(30) %}{% endfor %}{% endfor %}", options));
}

TEST(ChatTemplateLimits, RunawayMacroRecursionStops) {
  auto result = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimitExceeded);
  EXPECT_NE(result.error().message().find("max_macro_call_depth"), std::string::npos) << result.error().message();

  RenderOptions options;
  options.limits.max_macro_call_depth = 10;
  EXPECT_TRUE(render("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(9) }}", options));
  EXPECT_FALSE(render("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(10) }}", options));
}

TEST(ChatTemplateLimits, RecursiveLoopsAndCallersCountAsCalls) {
  RenderOptions options;
  options.limits.max_macro_call_depth = 5;
  nlohmann::ordered_json tree = {{"c", nlohmann::ordered_json::array()}};
  for (int i = 0; i < 10; ++i) tree = {{"c", {tree}}};
  auto result = render("{% for n in [t] recursive %}{{ loop(n.c) }}{% endfor %}", options, {{"t", tree}});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimitExceeded);
}

TEST(ChatTemplateLimits, EvaluationDepthIsBounded) {
  RenderOptions options;
  options.limits.max_recursion_depth = 50;
  options.limits.max_macro_call_depth = 1000;
  auto result = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimitExceeded);
  EXPECT_NE(result.error().message().find("max_recursion_depth=50"), std::string::npos) << result.error().message();
}

TEST(ChatTemplateLimits, StackUseIsBounded) {
  // With the depth limits out of the way, the stack budget still stops a runaway recursion cleanly.
  RenderOptions options;
  options.limits.max_recursion_depth = 1'000'000;
  options.limits.max_macro_call_depth = 1'000'000;
  options.limits.max_stack_bytes = 256u << 10;
  auto result =
      render("{% macro f(n) %}{% if true %}{{ [f(n + 1)]|first }}{% endif %}{% endmacro %}{{ f(0) }}", options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimitExceeded);
  EXPECT_NE(result.error().message().find("max_stack_bytes=262144"), std::string::npos) << result.error().message();
}

TEST(ChatTemplateLimits, FiltersCallingFiltersCountTowardsTheDepth) {
  std::string maps = "{{ 'a'|map('map'";  // a one-letter string iterates to itself
  for (int i = 0; i < 2000; ++i) maps += ", 'map'";
  auto result = render(maps + ")|list }}");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimitExceeded);
}

TEST(ChatTemplateLimits, WorkIsBounded) {
  // Finite but quadratic: a membership test over a long list inside a long loop.
  auto result = render("{% set big = range(100000)|list %}{% for i in range(100000) %}{{ i in big }}{% endfor %}");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimitExceeded);
  EXPECT_NE(result.error().message().find("max_work="), std::string::npos) << result.error().message();
  // Mapping a huge string over a long list is stopped before it allocates terabytes.
  result = render("{% set s = 'x' * 10000000 %}{{ ([s] * 100000)|map('upper')|list|length }}");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimitExceeded);
}

TEST(ChatTemplateLimits, OutputAndStringSizesAreBounded) {
  RenderOptions options;
  options.limits.max_output_bytes = 1000;
  auto result = render("{% for i in range(2000) %}x{% endfor %}", options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimitExceeded);
  // Doubling a string in a loop trips the limit long before memory runs out.
  result = render("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                  options);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(render("{{ 'ab' * 100000 }}", options).error().code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(render("{{ 'x'|center(100000) }}", options).error().code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(render("{{ [1]|tojson(indent=100000) }}", options).error().code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(render("{{ '%99999d' % 1 }}", options).error().code(), ErrorCode::kLimitExceeded);
}

TEST(ChatTemplateLimits, SequencesAndNestingAreBounded) {
  EXPECT_EQ(render("{{ range(1000000)|length }}").error().code(), ErrorCode::kLimitExceeded);
  RenderOptions options;
  options.limits.max_sequence_length = 100;
  EXPECT_EQ(render("{{ [1, 2] * 51 }}", options).error().code(), ErrorCode::kLimitExceeded);
  auto deep = render("{% set ns = namespace(v=1) %}{% for i in range(1000) %}{% set ns.v = [ns.v] %}{% endfor %}");
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().code(), ErrorCode::kLimitExceeded);
  // A namespace that holds itself prints without recursing forever, and is freed after the render.
  EXPECT_TRUE(render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns|string|length > 0 }}"));
}

TEST(ChatTemplateLimits, DeeplyNestedTemplatesAreRejectedAtParseTime) {
  const std::string parens(500, '(');
  auto tmpl = ChatTemplate::parse("{{ " + parens + "1" + std::string(500, ')') + " }}");
  ASSERT_FALSE(tmpl);
  EXPECT_EQ(tmpl.error().code(), ErrorCode::kParse);
  std::string chain = "{{ 1";
  for (int i = 0; i < 1000; ++i) chain += " + 1";
  EXPECT_FALSE(ChatTemplate::parse(chain + " }}"));
  std::string blocks;
  for (int i = 0; i < 300; ++i) blocks += "{% if true %}";
  EXPECT_FALSE(ChatTemplate::parse(blocks));
}

}  // namespace
}  // namespace ferrum::chat
