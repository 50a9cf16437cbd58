// JSON schema -> grammar: which strings the compiled automaton accepts, on schemas chosen to be
// awkward (optional members in every combination, recursion, integer ranges, UTF-8 and escapes),
// and the keywords it must refuse by name. Every accepted output is also checked to parse as JSON.
#include "grammar/json_grammar.h"

#include <gtest/gtest.h>

#include "grammar/automaton.h"
#include "grammar/matcher.h"

namespace ferrum::grammar {
namespace {

std::shared_ptr<const Automaton> compile_schema(const char* schema_text) {
  const OrderedJson schema = OrderedJson::parse(schema_text);
  auto grammar = json_schema_grammar(schema);
  EXPECT_TRUE(grammar) << (grammar ? "" : grammar.error().to_string());
  auto automaton = compile(*grammar);
  EXPECT_TRUE(automaton) << (automaton ? "" : automaton.error().to_string());
  return std::make_shared<const Automaton>(std::move(*automaton));
}

// The whole text is a complete sentence of the grammar.
bool matches(const std::shared_ptr<const Automaton>& automaton, std::string_view text) {
  GrammarMatcher matcher(automaton);
  return matcher.accept(text) && matcher.accepting();
}

// The text can still be extended into a sentence.
bool viable_prefix(const std::shared_ptr<const Automaton>& automaton, std::string_view text) {
  GrammarMatcher matcher(automaton);
  return matcher.accept(text);
}

void expect_matches(const std::shared_ptr<const Automaton>& automaton, std::string_view text) {
  EXPECT_TRUE(matches(automaton, text)) << text;
  EXPECT_FALSE(OrderedJson::parse(text, nullptr, false).is_discarded()) << "accepted non-JSON: " << text;
}

TEST(JsonGrammar, ObjectWithOptionalMembersInAnyCombination) {
  const auto automaton = compile_schema(R"({
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}, "c": {"type": "string"}},
    "required": ["b"], "additionalProperties": false})");
  expect_matches(automaton, R"({"b":true})");
  expect_matches(automaton, R"({"a":1,"b":false})");
  expect_matches(automaton, R"({"a": 1, "b": true, "c": "x"})");
  expect_matches(automaton, R"({"b":true,"c":""})");
  expect_matches(automaton, R"( {"b": true})");
  EXPECT_FALSE(matches(automaton, R"({})"));  // b is required
  EXPECT_FALSE(matches(automaton, R"({"a":1})"));
  EXPECT_FALSE(matches(automaton, R"({"b":true,"a":1})"));  // schema order
  EXPECT_FALSE(matches(automaton, R"({"b":true,})"));       // no trailing comma
  EXPECT_FALSE(matches(automaton, R"({,"b":true})"));
  EXPECT_FALSE(matches(automaton, R"({"b":true,"d":1})"));  // no extra members
  EXPECT_FALSE(matches(automaton, R"({"b":1})"));
  EXPECT_FALSE(matches(automaton, R"({"b":true} )"));  // nothing after the value
  EXPECT_TRUE(viable_prefix(automaton, R"({"a":12)"));
  EXPECT_FALSE(viable_prefix(automaton, R"({"a":1.)"));  // an integer has no fraction
}

TEST(JsonGrammar, AdditionalPropertiesSchema) {
  const auto automaton = compile_schema(R"({"type": "object", "properties": {"id": {"type": "integer"}},
                                            "required": ["id"], "additionalProperties": {"type": "number"}})");
  expect_matches(automaton, R"({"id":1})");
  expect_matches(automaton, R"({"id":1,"x":2.5,"y":-1e3})");
  EXPECT_FALSE(matches(automaton, R"({"id":1,"x":"s"})"));
}

TEST(JsonGrammar, ArraysWithBoundsAndPrefixItems) {
  const auto bounded =
      compile_schema(R"({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3})");
  EXPECT_FALSE(matches(bounded, "[1]"));
  expect_matches(bounded, "[1,2]");
  expect_matches(bounded, "[1, 2, 3]");
  EXPECT_FALSE(matches(bounded, "[1,2,3,4]"));
  EXPECT_FALSE(matches(bounded, "[]"));

  const auto tuple = compile_schema(R"({"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}],
                                        "items": false})");
  expect_matches(tuple, R"(["a",true])");
  expect_matches(tuple, R"(["a"])");
  expect_matches(tuple, "[]");
  EXPECT_FALSE(matches(tuple, R"([true])"));
  EXPECT_FALSE(matches(tuple, R"(["a",true,1])"));

  const auto empty_ok = compile_schema(R"({"type": "array", "items": {"type": "null"}})");
  expect_matches(empty_ok, "[]");
  expect_matches(empty_ok, "[null, null]");
}

TEST(JsonGrammar, RecursiveReferences) {
  const auto automaton = compile_schema(R"({
    "$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                       "required": ["value"], "additionalProperties": false}},
    "$ref": "#/$defs/node"})");
  expect_matches(automaton, R"({"value":1})");
  expect_matches(automaton, R"({"value":1,"children":[{"value":2,"children":[{"value":3}]},{"value":4}]})");
  EXPECT_FALSE(matches(automaton, R"({"value":1,"children":[{"children":[]}]})"));
}

TEST(JsonGrammar, EnumConstAnyOfAndNullableTypes) {
  const auto automaton = compile_schema(R"({"type": "object", "properties": {
      "color": {"enum": ["red", "green", 3, null]},
      "kind": {"const": {"a": [1, "x"]}},
      "either": {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer"}]},
      "maybe": {"type": ["string", "null"]}},
      "required": ["color", "kind", "either", "maybe"]})");
  expect_matches(automaton, R"({"color":"red","kind":{"a":[1,"x"]},"either":"ab","maybe":null})");
  expect_matches(automaton, R"({"color":3,"kind":{"a":[1,"x"]},"either":42,"maybe":"s"})");
  expect_matches(automaton, R"({"color":null,"kind":{"a":[1,"x"]},"either":-1,"maybe":""})");
  EXPECT_FALSE(matches(automaton, R"({"color":"blue","kind":{"a":[1,"x"]},"either":1,"maybe":null})"));
  EXPECT_FALSE(matches(automaton, R"({"color":"red","kind":{"a":[1,"y"]},"either":1,"maybe":null})"));
  EXPECT_FALSE(matches(automaton, R"({"color":"red","kind":{"a":[1,"x"]},"either":"abc","maybe":null})"));
}

TEST(JsonGrammar, StringsEscapesAndUtf8) {
  const auto automaton = compile_schema(R"({"type": "string", "minLength": 1, "maxLength": 4})");
  expect_matches(automaton, R"("a")");
  expect_matches(automaton, R"("\n\"\\")");
  expect_matches(automaton, R"("\u00e9x")");
  expect_matches(automaton, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");  // é € 😀: three characters
  EXPECT_FALSE(matches(automaton, R"("")"));
  EXPECT_FALSE(matches(automaton, R"("abcde")"));
  EXPECT_FALSE(matches(automaton, "\"a\nb\""));              // raw control characters
  EXPECT_FALSE(matches(automaton, R"("\x")"));               // no such escape
  EXPECT_FALSE(viable_prefix(automaton, "\"\xc0\xaf"));      // overlong encoding
  EXPECT_FALSE(viable_prefix(automaton, "\"\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(viable_prefix(automaton, "\"\x80"));          // a lone continuation byte
}

TEST(JsonGrammar, NumbersAreJsonNumbers) {
  const auto automaton = compile_schema(R"({"type": "number"})");
  for (const char* good : {"0", "-0", "12", "-3.25", "1e5", "1.5E-3", "0.001"}) expect_matches(automaton, good);
  for (const char* bad : {"01", "+1", ".5", "1.", "1e", "--1", "NaN", "Infinity", "1_000"}) {
    EXPECT_FALSE(matches(automaton, bad)) << bad;
  }
}

TEST(JsonGrammar, IntegerRangesMatchExactlyTheRange) {
  struct Range {
    std::optional<int64_t> lo, hi;
  };
  for (const Range range : {Range{0, 0}, Range{-5, 5}, Range{7, 123}, Range{-1000, -37}, Range{99, 101},
                            Range{-12, std::nullopt}, Range{std::nullopt, 31}, Range{250, 2500}}) {
    Grammar grammar;
    const RuleId root = grammar.declare("root");
    grammar.define(root, integer_range(range.lo, range.hi));
    grammar.set_root(root);
    auto automaton = std::make_shared<const Automaton>(*compile(grammar));
    std::vector<int64_t> values;
    for (int64_t value = -1100; value <= 1100; ++value) values.push_back(value);
    for (int64_t value : {-2501, -2500, -2499, 2499, 2500, 2501, 99999, -99999}) values.push_back(value);
    for (int64_t value : values) {
      const bool inside = (!range.lo || value >= *range.lo) && (!range.hi || value <= *range.hi);
      EXPECT_EQ(matches(automaton, std::to_string(value)), inside)
          << value << " in [" << range.lo.value_or(-999999) << ", " << range.hi.value_or(999999) << "]";
    }
    EXPECT_FALSE(matches(automaton, "007"));
  }
}

TEST(JsonGrammar, IntegerBoundsFromTheSchema) {
  const auto automaton = compile_schema(R"({"type": "integer", "minimum": 1, "exclusiveMaximum": 10})");
  expect_matches(automaton, "1");
  expect_matches(automaton, "9");
  EXPECT_FALSE(matches(automaton, "0"));
  EXPECT_FALSE(matches(automaton, "10"));
}

TEST(JsonGrammar, UnsupportedKeywordsAreNamedWithTheirPlace) {
  const OrderedJson schema = OrderedJson::parse(R"({"type": "object", "properties": {
      "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
      "when": {"type": "string", "format": "date-time"},
      "price": {"type": "number", "minimum": 0}}})");
  auto grammar = json_schema_grammar(schema);
  ASSERT_FALSE(grammar);
  EXPECT_EQ(grammar.error().code(), ErrorCode::kUnsupported);
  const std::string& message = grammar.error().message();
  EXPECT_NE(message.find("pattern at '/properties/zip'"), std::string::npos) << message;
  EXPECT_NE(message.find("format at '/properties/when'"), std::string::npos) << message;
  EXPECT_NE(message.find("minimum on a number at '/properties/price'"), std::string::npos) << message;
}

TEST(JsonGrammar, MalformedSchemasAreErrors) {
  for (const char* bad :
       {R"({"type": "strin"})", R"({"enum": []})", R"({"$ref": "#/nowhere"})",
        R"({"type": "array", "minItems": 3, "maxItems": 1})", R"(false)", R"({"$ref": "http://example.com/schema"})"}) {
    EXPECT_FALSE(json_schema_grammar(OrderedJson::parse(bad))) << bad;
  }
}

TEST(JsonGrammar, AnyObjectForJsonObjectMode) {
  auto automaton = std::make_shared<const Automaton>(*compile(json_object_grammar()));
  expect_matches(automaton, R"({})");
  expect_matches(automaton, R"({"a":[1,{"b":null}],"c":"d"})");
  EXPECT_FALSE(matches(automaton, R"([1])"));
  EXPECT_FALSE(matches(automaton, R"("s")"));
}

TEST(Automaton, LeftRecursionIsRefused) {
  Grammar grammar;
  const RuleId list = grammar.declare("list");
  grammar.define(list,
                 Expr::choice({Expr::seq({Expr::rule_ref(list), Expr::literal_text(",x")}), Expr::literal_text("x")}));
  grammar.set_root(list);
  auto automaton = compile(grammar);
  ASSERT_FALSE(automaton);
  EXPECT_NE(automaton.error().message().find("left-recursive"), std::string::npos);
}

}  // namespace
}  // namespace ferrum::grammar
