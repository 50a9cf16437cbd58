// JSON schema -> grammar. The grammar matches compact JSON (at most one space where JSON allows
// whitespace, so a model cannot stall on blank output) that validates against the schema.
//
// Supported: type (and lists of types), enum, const, anyOf, oneOf (as anyOf), allOf of one schema,
// $ref into #/$defs or #/definitions (recursion included) and "#"; objects with properties (in
// schema order), required and additionalProperties (absent means none: every output still
// validates); arrays with items, prefixItems, minItems, maxItems; strings with minLength /
// maxLength; integers with minimum / maximum / exclusiveMinimum / exclusiveMaximum. Annotations
// (title, description, default, examples, ...) are ignored. Any other keyword (pattern, format,
// multipleOf, bounds on non-integer numbers, ...) is refused with kUnsupported, naming each keyword
// and where it sits, rather than silently producing output the schema would reject.
//
// Numbers are limited to 16 integer digits, 16 fraction digits and 3 exponent digits.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "grammar/grammar.h"

namespace ferrum::grammar {

using OrderedJson = nlohmann::ordered_json;

// Builds grammars out of JSON pieces; schemas from different documents (several tools' parameter
// schemas) can share one grammar, each resolving its $refs in its own document.
class JsonGrammarBuilder {
 public:
  JsonGrammarBuilder();

  // Values valid under `schema`; $ref resolves in `document` (the schema's root). `where` is the
  // JSON pointer of `schema` used in messages.
  Expected<Expr> value(const OrderedJson& schema, const OrderedJson& document, std::string where = "");
  Expr any_value() { return Expr::rule_ref(value_rule_); }
  Expr any_object() { return Expr::rule_ref(object_rule_); }
  // A JSON string literal with exactly this content.
  static Expr string_literal(std::string_view text);
  // Where JSON allows whitespace: nothing or one space.
  static Expr ws();

  // A new rule matching `body`, referenced by the returned expression (shared, not copied).
  Expr rule(std::string name, Expr body);

  // Makes `body` the root rule and hands over the grammar.
  Grammar finish(Expr body);

 private:
  Expected<Expr> compile(const OrderedJson& schema, const OrderedJson& document, const std::string& where);
  Expected<Expr> typed_value(const OrderedJson& schema, const OrderedJson& document, const std::string& where,
                             std::string_view type);
  Expected<Expr> object_value(const OrderedJson& schema, const OrderedJson& document, const std::string& where);
  Expected<Expr> array_value(const OrderedJson& schema, const OrderedJson& document, const std::string& where);
  Expected<Expr> string_value(const OrderedJson& schema, const std::string& where);
  Expected<Expr> integer_value(const OrderedJson& schema, const std::string& where);
  Expected<Expr> reference(const std::string& ref, const OrderedJson& document, const std::string& where);
  Expr string_rule(size_t min_length, size_t max_length);

  Grammar grammar_;
  RuleId value_rule_, object_rule_, array_rule_, string_rule_, number_rule_, integer_rule_;
  std::map<std::pair<size_t, size_t>, RuleId> bounded_strings_;
  // $ref targets already compiled, by (document, pointer), so recursive schemas close into rules.
  std::map<std::pair<const OrderedJson*, std::string>, RuleId> references_;
  std::vector<std::string> unsupported_;
};

// response_format json_schema: the schema's values at the top level (leading whitespace allowed).
Expected<Grammar> json_schema_grammar(const OrderedJson& schema);
// response_format json_object: any JSON object.
Grammar json_object_grammar();

// Integers in [lo, hi] written without leading zeros (either bound may be absent), at most 16 digits.
Expr integer_range(std::optional<int64_t> lo, std::optional<int64_t> hi);

}  // namespace ferrum::grammar
