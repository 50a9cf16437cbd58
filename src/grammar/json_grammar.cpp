#include "grammar/json_grammar.h"

#include <cmath>
#include <set>

namespace ferrum::grammar {
namespace {

constexpr size_t kMaxIntegerDigits = 16;
constexpr int64_t kLargestInteger = 9'999'999'999'999'999;  // 16 digits

// Keywords that describe a schema without constraining its values.
const std::set<std::string, std::less<>> kAnnotations = {"title",    "description", "$schema",  "$id",
                                                         "$comment", "default",     "examples", "deprecated",
                                                         "readOnly", "writeOnly",   "$defs",    "definitions"};
const std::set<std::string, std::less<>> kSupported = {"type",
                                                       "enum",
                                                       "const",
                                                       "anyOf",
                                                       "oneOf",
                                                       "allOf",
                                                       "$ref",
                                                       "properties",
                                                       "required",
                                                       "additionalProperties",
                                                       "items",
                                                       "prefixItems",
                                                       "minItems",
                                                       "maxItems",
                                                       "minLength",
                                                       "maxLength",
                                                       "minimum",
                                                       "maximum",
                                                       "exclusiveMinimum",
                                                       "exclusiveMaximum"};

Expr digit() {
  return Expr::range('0', '9');
}

Expr literal(std::string_view text) {
  return Expr::literal_text(text);
}

// One character of a JSON string: any valid UTF-8 sequence except '"', '\' and control
// characters, or an escape.
Expr string_character() {
  ByteSet plain;  // printable ASCII without '"' (0x22) and '\' (0x5c)
  plain.add_range(0x20, 0x21);
  plain.add_range(0x23, 0x5b);
  plain.add_range(0x5d, 0x7f);
  const Expr cont = Expr::range(0x80, 0xbf);
  std::vector<Expr> forms;
  forms.push_back(Expr::byte_set(plain));
  forms.push_back(Expr::seq({Expr::range(0xc2, 0xdf), cont}));
  forms.push_back(Expr::seq({literal("\xe0"), Expr::range(0xa0, 0xbf), cont}));
  ByteSet three_lead;
  three_lead.add_range(0xe1, 0xec);
  three_lead.add_range(0xee, 0xef);
  forms.push_back(Expr::seq({Expr::byte_set(three_lead), cont, cont}));
  forms.push_back(Expr::seq({literal("\xed"), Expr::range(0x80, 0x9f), cont}));  // no surrogates
  forms.push_back(Expr::seq({literal("\xf0"), Expr::range(0x90, 0xbf), cont, cont}));
  forms.push_back(Expr::seq({Expr::range(0xf1, 0xf3), cont, cont, cont}));
  forms.push_back(Expr::seq({literal("\xf4"), Expr::range(0x80, 0x8f), cont, cont}));
  ByteSet escapable;
  for (char c : std::string_view("\"\\/bfnrt")) escapable.add(static_cast<uint8_t>(c));
  ByteSet hex;
  hex.add_range('0', '9');
  hex.add_range('a', 'f');
  hex.add_range('A', 'F');
  forms.push_back(Expr::seq(
      {literal("\\"),
       Expr::choice({Expr::byte_set(escapable), Expr::seq({literal("u"), Expr::repeat(Expr::byte_set(hex), 4, 4)})})}));
  return Expr::choice(std::move(forms));
}

Expr unsigned_integer() {
  return Expr::choice(
      {literal("0"), Expr::seq({Expr::range('1', '9'), Expr::repeat(digit(), 0, kMaxIntegerDigits - 1)})});
}

// Every digit string of the length of `lo` and `hi` (equal lengths) between them.
Expr same_length_range(std::string_view lo, std::string_view hi) {
  if (lo.empty()) return Expr::empty();
  // Every digit string of this length: stop here, or the recursion below doubles per digit.
  if (lo.find_first_not_of('0') == std::string_view::npos && hi.find_first_not_of('9') == std::string_view::npos) {
    return Expr::repeat(digit(), lo.size(), lo.size());
  }
  if (lo[0] == hi[0]) return Expr::seq({literal(lo.substr(0, 1)), same_length_range(lo.substr(1), hi.substr(1))});
  const size_t rest = lo.size() - 1;
  std::vector<Expr> alternatives;
  alternatives.push_back(
      Expr::seq({literal(lo.substr(0, 1)), same_length_range(lo.substr(1), std::string(rest, '9'))}));
  if (lo[0] + 1 <= hi[0] - 1) {
    alternatives.push_back(Expr::seq({Expr::range(static_cast<uint8_t>(lo[0] + 1), static_cast<uint8_t>(hi[0] - 1)),
                                      Expr::repeat(digit(), rest, rest)}));
  }
  alternatives.push_back(
      Expr::seq({literal(hi.substr(0, 1)), same_length_range(std::string(rest, '0'), hi.substr(1))}));
  return Expr::choice(std::move(alternatives));
}

// Non-negative integers in [lo, hi], no leading zeros.
Expr natural_range(int64_t lo, int64_t hi) {
  std::vector<Expr> by_length;
  std::string low = std::to_string(lo);
  const std::string high = std::to_string(hi);
  while (low.size() < high.size()) {
    // From `low` to the largest number of its length, then continue at the next power of ten.
    by_length.push_back(same_length_range(low, std::string(low.size(), '9')));
    low.assign(low.size() + 1, '0');
    low[0] = '1';
  }
  by_length.push_back(same_length_range(low, high));
  return Expr::choice(std::move(by_length));
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : ", ") + part;
  return out;
}

std::string pointer_escape(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<size_t> size_keyword(const OrderedJson& schema, const char* key, std::vector<std::string>& errors,
                                   const std::string& where) {
  if (!schema.contains(key)) return std::nullopt;
  const OrderedJson& value = schema[key];
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
    errors.push_back(std::string(key) + " at '" + where + "' (must be a non-negative integer)");
    return std::nullopt;
  }
  return value.get<size_t>();
}

}  // namespace

Expr integer_range(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  const int64_t low = std::max(lo.value_or(-kLargestInteger), -kLargestInteger);
  const int64_t high = std::min(hi.value_or(kLargestInteger), kLargestInteger);
  std::vector<Expr> parts;
  if (high >= 0) parts.push_back(natural_range(std::max<int64_t>(low, 0), high));
  if (low < 0) parts.push_back(Expr::seq({literal("-"), natural_range(std::max<int64_t>(1, -high), -low)}));
  return Expr::choice(std::move(parts));
}

JsonGrammarBuilder::JsonGrammarBuilder() {
  value_rule_ = grammar_.declare("value");
  object_rule_ = grammar_.declare("object");
  array_rule_ = grammar_.declare("array");
  string_rule_ = grammar_.declare("string");
  number_rule_ = grammar_.declare("number");
  integer_rule_ = grammar_.declare("integer");
  const Expr string = Expr::rule_ref(string_rule_);
  grammar_.define(value_rule_,
                  Expr::choice({Expr::rule_ref(object_rule_), Expr::rule_ref(array_rule_), string,
                                Expr::rule_ref(number_rule_), literal("true"), literal("false"), literal("null")}));
  const Expr member = Expr::seq({string, ws(), literal(":"), ws(), any_value()});
  grammar_.define(object_rule_,
                  Expr::seq({literal("{"), ws(),
                             Expr::optional(Expr::seq(
                                 {member, Expr::repeat(Expr::seq({literal(","), ws(), member}), 0, kUnbounded), ws()})),
                             literal("}")}));
  grammar_.define(
      array_rule_,
      Expr::seq({literal("["), ws(),
                 Expr::optional(Expr::seq(
                     {any_value(), Expr::repeat(Expr::seq({literal(","), ws(), any_value()}), 0, kUnbounded), ws()})),
                 literal("]")}));
  grammar_.define(string_rule_,
                  Expr::seq({literal("\""), Expr::repeat(string_character(), 0, kUnbounded), literal("\"")}));
  const Expr fraction = Expr::seq({literal("."), Expr::repeat(digit(), 1, 16)});
  ByteSet e_or_E;
  e_or_E.add('e');
  e_or_E.add('E');
  ByteSet sign;
  sign.add('+');
  sign.add('-');
  const Expr exponent_part =
      Expr::seq({Expr::byte_set(e_or_E), Expr::optional(Expr::byte_set(sign)), Expr::repeat(digit(), 1, 3)});
  grammar_.define(number_rule_, Expr::seq({Expr::optional(literal("-")), unsigned_integer(), Expr::optional(fraction),
                                           Expr::optional(exponent_part)}));
  grammar_.define(integer_rule_, Expr::seq({Expr::optional(literal("-")), unsigned_integer()}));
}

Expr JsonGrammarBuilder::ws() {
  return Expr::optional(literal(" "));
}

Expr JsonGrammarBuilder::string_literal(std::string_view text) {
  return literal(OrderedJson(std::string(text)).dump(-1, ' ', false, OrderedJson::error_handler_t::replace));
}

Expr JsonGrammarBuilder::rule(std::string name, Expr body) {
  const RuleId id = grammar_.declare(std::move(name));
  grammar_.define(id, std::move(body));
  return Expr::rule_ref(id);
}

Grammar JsonGrammarBuilder::finish(Expr body) {
  const RuleId root = grammar_.declare("root");
  grammar_.define(root, std::move(body));
  grammar_.set_root(root);
  return std::move(grammar_);
}

Expected<Expr> JsonGrammarBuilder::value(const OrderedJson& schema, const OrderedJson& document, std::string where) {
  unsupported_.clear();
  auto expr = compile(schema, document, where);
  if (!expr) return expr;
  FERRUM_CHECK(unsupported_.empty(), ErrorCode::kUnsupported, "unsupported JSON schema keywords: ", join(unsupported_));
  return expr;
}

Expected<Expr> JsonGrammarBuilder::compile(const OrderedJson& schema, const OrderedJson& document,
                                           const std::string& where) {
  const std::string at = where.empty() ? "/" : where;
  if (schema.is_boolean()) {
    FERRUM_CHECK(schema.get<bool>(), ErrorCode::kInvalidArgument, "the schema at '", at,
                 "' is false: nothing matches it");
    return any_value();
  }
  FERRUM_CHECK(schema.is_object(), ErrorCode::kInvalidArgument, "the schema at '", at, "' is not an object");
  for (const auto& [key, unused] : schema.items()) {
    if (!kAnnotations.contains(key) && !kSupported.contains(key)) unsupported_.push_back(key + " at '" + at + "'");
  }
  if (schema.contains("$ref")) {
    FERRUM_CHECK(schema["$ref"].is_string(), ErrorCode::kInvalidArgument, "$ref at '", at, "' is not a string");
    for (const auto& [key, unused] : schema.items()) {
      if (key != "$ref" && kSupported.contains(key)) unsupported_.push_back(key + " beside $ref at '" + at + "'");
    }
    return reference(schema["$ref"].get<std::string>(), document, at);
  }
  if (schema.contains("const")) {
    return literal(schema["const"].dump(-1, ' ', false, OrderedJson::error_handler_t::replace));
  }
  if (schema.contains("enum")) {
    const OrderedJson& values = schema["enum"];
    FERRUM_CHECK(values.is_array() && !values.empty(), ErrorCode::kInvalidArgument, "enum at '", at,
                 "' must be a non-empty array");
    std::vector<Expr> alternatives;
    for (const OrderedJson& value : values) {
      alternatives.push_back(literal(value.dump(-1, ' ', false, OrderedJson::error_handler_t::replace)));
    }
    return Expr::choice(std::move(alternatives));
  }
  for (const char* combinator : {"anyOf", "oneOf"}) {
    if (!schema.contains(combinator)) continue;
    const OrderedJson& options = schema[combinator];
    FERRUM_CHECK(options.is_array() && !options.empty(), ErrorCode::kInvalidArgument, combinator, " at '", at,
                 "' must be a non-empty array");
    std::vector<Expr> alternatives;
    for (size_t i = 0; i < options.size(); ++i) {
      FERRUM_ASSIGN_OR_RETURN(Expr option,
                              compile(options[i], document, where + "/" + combinator + "/" + std::to_string(i)));
      alternatives.push_back(std::move(option));
    }
    return Expr::choice(std::move(alternatives));
  }
  if (schema.contains("allOf")) {
    const OrderedJson& parts = schema["allOf"];
    FERRUM_CHECK(parts.is_array() && !parts.empty(), ErrorCode::kInvalidArgument, "allOf at '", at,
                 "' must be a non-empty array");
    if (parts.size() != 1) {
      unsupported_.push_back("allOf with " + std::to_string(parts.size()) + " schemas at '" + at + "'");
      return any_value();
    }
    return compile(parts[0], document, where + "/allOf/0");
  }

  std::vector<std::string> types;
  if (schema.contains("type")) {
    const OrderedJson& type = schema["type"];
    if (type.is_string()) {
      types.push_back(type.get<std::string>());
    } else if (type.is_array()) {
      for (const OrderedJson& entry : type) {
        FERRUM_CHECK(entry.is_string(), ErrorCode::kInvalidArgument, "type at '", at, "' lists a non-string");
        types.push_back(entry.get<std::string>());
      }
    }
    FERRUM_CHECK(!types.empty(), ErrorCode::kInvalidArgument, "type at '", at,
                 "' must be a type name or a non-empty list of them");
  } else if (schema.contains("properties") || schema.contains("required") || schema.contains("additionalProperties")) {
    types.push_back("object");
  } else if (schema.contains("items") || schema.contains("prefixItems") || schema.contains("minItems") ||
             schema.contains("maxItems")) {
    types.push_back("array");
  } else if (schema.contains("minLength") || schema.contains("maxLength")) {
    types.push_back("string");
  } else if (schema.contains("minimum") || schema.contains("maximum") || schema.contains("exclusiveMinimum") ||
             schema.contains("exclusiveMaximum")) {
    types.push_back("number");
  } else {
    return any_value();
  }
  std::vector<Expr> alternatives;
  for (const std::string& type : types) {
    FERRUM_ASSIGN_OR_RETURN(Expr typed, typed_value(schema, document, where, type));
    alternatives.push_back(std::move(typed));
  }
  return Expr::choice(std::move(alternatives));
}

Expected<Expr> JsonGrammarBuilder::typed_value(const OrderedJson& schema, const OrderedJson& document,
                                               const std::string& where, std::string_view type) {
  const std::string at = where.empty() ? "/" : where;
  if (type == "object") return object_value(schema, document, where);
  if (type == "array") return array_value(schema, document, where);
  if (type == "string") return string_value(schema, where);
  if (type == "integer") return integer_value(schema, where);
  if (type == "number") {
    for (const char* bound : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
      if (schema.contains(bound)) unsupported_.push_back(std::string(bound) + " on a number at '" + at + "'");
    }
    return Expr::rule_ref(number_rule_);
  }
  if (type == "boolean") return Expr::choice({literal("true"), literal("false")});
  if (type == "null") return literal("null");
  return make_error(ErrorCode::kInvalidArgument, "unknown type '", type, "' at '", at, "'");
}

Expected<Expr> JsonGrammarBuilder::object_value(const OrderedJson& schema, const OrderedJson& document,
                                                const std::string& where) {
  const std::string at = where.empty() ? "/" : where;
  struct Member {
    std::string name;
    Expr value;
    bool required = false;
  };
  std::vector<Member> members;
  std::set<std::string, std::less<>> required;
  if (schema.contains("required")) {
    FERRUM_CHECK(schema["required"].is_array(), ErrorCode::kInvalidArgument, "required at '", at, "' is not an array");
    for (const OrderedJson& name : schema["required"]) {
      FERRUM_CHECK(name.is_string(), ErrorCode::kInvalidArgument, "required at '", at, "' lists a non-string");
      required.insert(name.get<std::string>());
    }
  }
  if (schema.contains("properties")) {
    FERRUM_CHECK(schema["properties"].is_object(), ErrorCode::kInvalidArgument, "properties at '", at,
                 "' is not an object");
    for (const auto& [name, property] : schema["properties"].items()) {
      FERRUM_ASSIGN_OR_RETURN(Expr value, compile(property, document, where + "/properties/" + pointer_escape(name)));
      members.push_back({name, std::move(value), required.contains(name)});
    }
  }
  for (const std::string& name : required) {
    const bool listed = std::any_of(members.begin(), members.end(), [&](const Member& m) { return m.name == name; });
    if (!listed) members.push_back({name, any_value(), true});
  }
  std::optional<Expr> additional;
  if (schema.contains("additionalProperties")) {
    const OrderedJson& extra = schema["additionalProperties"];
    if (!(extra.is_boolean() && !extra.get<bool>())) {
      FERRUM_ASSIGN_OR_RETURN(Expr value, compile(extra, document, where + "/additionalProperties"));
      additional = std::move(value);
    }
  }
  if (!schema.contains("properties") && !schema.contains("additionalProperties") && required.empty()) {
    return any_object();  // {"type": "object"} alone: any object
  }

  const auto pair = [](const std::string& name, const Expr& value) {
    return Expr::seq({string_literal(name), ws(), literal(":"), ws(), value});
  };
  const Expr separator = Expr::seq({literal(","), ws()});
  // members_from[i][first]: the members from i on, `first` when none has been written yet. Optional
  // members make both variants reachable, so each is a rule rather than a copied expression.
  std::vector<std::array<RuleId, 2>> members_from(members.size() + 1);
  for (size_t i = 0; i <= members.size(); ++i) {
    for (int first = 0; first < 2; ++first) {
      members_from[i][first] = grammar_.declare("members" + where + "#" + std::to_string(i) + (first ? "f" : ""));
    }
  }
  for (int first = 0; first < 2; ++first) {
    Expr tail = Expr::empty();
    if (additional) {
      const Expr extra_pair = Expr::seq({Expr::rule_ref(string_rule_), ws(), literal(":"), ws(), *additional});
      const Expr more = Expr::repeat(Expr::seq({separator, extra_pair}), 0, kUnbounded);
      tail = first ? Expr::optional(Expr::seq({extra_pair, more})) : more;
    }
    grammar_.define(members_from[members.size()][first], std::move(tail));
  }
  for (size_t i = members.size(); i-- > 0;) {
    for (int first = 0; first < 2; ++first) {
      std::vector<Expr> written;
      if (!first) written.push_back(separator);
      written.push_back(pair(members[i].name, members[i].value));
      written.push_back(Expr::rule_ref(members_from[i + 1][0]));
      Expr body = Expr::seq(std::move(written));
      if (!members[i].required) body = Expr::choice({std::move(body), Expr::rule_ref(members_from[i + 1][first])});
      grammar_.define(members_from[i][first], std::move(body));
    }
  }
  return Expr::seq({literal("{"), ws(), Expr::rule_ref(members_from[0][1]), ws(), literal("}")});
}

Expected<Expr> JsonGrammarBuilder::array_value(const OrderedJson& schema, const OrderedJson& document,
                                               const std::string& where) {
  std::vector<std::string> errors;
  const size_t min_items = size_keyword(schema, "minItems", errors, where).value_or(0);
  const size_t max_items = size_keyword(schema, "maxItems", errors, where).value_or(kUnbounded);
  FERRUM_CHECK(errors.empty(), ErrorCode::kInvalidArgument, join(errors));
  FERRUM_CHECK(min_items <= max_items, ErrorCode::kInvalidArgument, "minItems > maxItems at '", where, "'");
  std::vector<Expr> prefix;
  if (schema.contains("prefixItems")) {
    FERRUM_CHECK(schema["prefixItems"].is_array(), ErrorCode::kInvalidArgument, "prefixItems at '", where,
                 "' is not an array");
    for (size_t i = 0; i < schema["prefixItems"].size(); ++i) {
      FERRUM_ASSIGN_OR_RETURN(Expr item,
                              compile(schema["prefixItems"][i], document, where + "/prefixItems/" + std::to_string(i)));
      prefix.push_back(std::move(item));
    }
  }
  std::optional<Expr> rest = any_value();
  if (schema.contains("items")) {
    const OrderedJson& items = schema["items"];
    if (items.is_boolean() && !items.get<bool>()) {
      rest.reset();
    } else {
      FERRUM_ASSIGN_OR_RETURN(rest, compile(items, document, where + "/items"));
    }
  }
  const size_t most = rest ? max_items : std::min(max_items, prefix.size());
  FERRUM_CHECK(min_items <= most, ErrorCode::kInvalidArgument, "minItems at '", where,
               "' asks for more items than the schema allows");
  const Expr separator = Expr::seq({literal(","), ws()});
  const auto item = [&](size_t index) { return index < prefix.size() ? prefix[index] : *rest; };
  // Items past the prefix repeat `rest`: a bounded or unbounded repetition after the fixed part.
  Expr tail = Expr::empty();
  if (rest && most > prefix.size()) {
    const size_t tail_min = min_items > prefix.size() ? min_items - prefix.size() : 0;
    const size_t tail_max = most == kUnbounded ? kUnbounded : most - prefix.size();
    tail = Expr::repeat(Expr::seq({separator, *rest}), tail_min, tail_max);
  }
  // Built from the end: item k is mandatory below min_items, optional (with everything after it) above.
  const size_t fixed = std::min(prefix.size(), most);
  Expr after = std::move(tail);
  for (size_t k = fixed; k-- > 1;) {
    Expr step = Expr::seq({separator, item(k), std::move(after)});
    after = k >= min_items ? Expr::optional(std::move(step)) : std::move(step);
  }
  Expr elements;
  if (fixed > 0) {
    elements = Expr::seq({item(0), std::move(after)});
  } else if (rest && most > 0) {
    // No prefix: the first item, then the repetition with its bounds shifted by one.
    const size_t tail_min = min_items > 0 ? min_items - 1 : 0;
    const size_t tail_max = most == kUnbounded ? kUnbounded : most - 1;
    elements = Expr::seq({*rest, Expr::repeat(Expr::seq({separator, *rest}), tail_min, tail_max)});
  } else {
    return Expr::seq({literal("["), ws(), literal("]")});
  }
  if (min_items == 0) elements = Expr::optional(std::move(elements));
  return Expr::seq({literal("["), ws(), std::move(elements), ws(), literal("]")});
}

Expr JsonGrammarBuilder::string_rule(size_t min_length, size_t max_length) {
  if (min_length == 0 && max_length == kUnbounded) return Expr::rule_ref(string_rule_);
  const auto key = std::make_pair(min_length, max_length);
  auto it = bounded_strings_.find(key);
  if (it == bounded_strings_.end()) {
    const RuleId rule = grammar_.declare("string{" + std::to_string(min_length) + "," +
                                         (max_length == kUnbounded ? "" : std::to_string(max_length)) + "}");
    grammar_.define(
        rule, Expr::seq({literal("\""), Expr::repeat(string_character(), min_length, max_length), literal("\"")}));
    it = bounded_strings_.emplace(key, rule).first;
  }
  return Expr::rule_ref(it->second);
}

Expected<Expr> JsonGrammarBuilder::string_value(const OrderedJson& schema, const std::string& where) {
  std::vector<std::string> errors;
  const size_t min_length = size_keyword(schema, "minLength", errors, where).value_or(0);
  const size_t max_length = size_keyword(schema, "maxLength", errors, where).value_or(kUnbounded);
  FERRUM_CHECK(errors.empty(), ErrorCode::kInvalidArgument, join(errors));
  FERRUM_CHECK(min_length <= max_length, ErrorCode::kInvalidArgument, "minLength > maxLength at '", where, "'");
  FERRUM_CHECK(max_length == kUnbounded || max_length <= kMaxRepeatCopies, ErrorCode::kUnsupported, "maxLength ",
               max_length, " at '", where, "' is above the grammar limit of ", kMaxRepeatCopies);
  FERRUM_CHECK(min_length <= kMaxRepeatCopies, ErrorCode::kUnsupported, "minLength ", min_length, " at '", where,
               "' is above the grammar limit of ", kMaxRepeatCopies);
  return string_rule(min_length, max_length);
}

Expected<Expr> JsonGrammarBuilder::integer_value(const OrderedJson& schema, const std::string& where) {
  std::optional<int64_t> lo, hi;
  for (const char* key : {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}) {
    if (!schema.contains(key)) continue;
    const OrderedJson& bound = schema[key];
    FERRUM_CHECK(bound.is_number(), ErrorCode::kInvalidArgument, key, " at '", where, "' is not a number");
    const double value = bound.get<double>();
    FERRUM_CHECK(std::fabs(value) <= static_cast<double>(kLargestInteger), ErrorCode::kUnsupported, key, " ", value,
                 " at '", where, "' is past the 16-digit integers the grammar writes");
    const std::string_view name = key;
    if (name == "minimum") lo = std::max(lo.value_or(INT64_MIN), static_cast<int64_t>(std::ceil(value)));
    if (name == "exclusiveMinimum") lo = std::max(lo.value_or(INT64_MIN), static_cast<int64_t>(std::floor(value)) + 1);
    if (name == "maximum") hi = std::min(hi.value_or(INT64_MAX), static_cast<int64_t>(std::floor(value)));
    if (name == "exclusiveMaximum") hi = std::min(hi.value_or(INT64_MAX), static_cast<int64_t>(std::ceil(value)) - 1);
  }
  if (!lo && !hi) return Expr::rule_ref(integer_rule_);
  FERRUM_CHECK(!lo || !hi || *lo <= *hi, ErrorCode::kInvalidArgument, "no integer lies in the bounds at '", where, "'");
  return integer_range(lo, hi);
}

Expected<Expr> JsonGrammarBuilder::reference(const std::string& ref, const OrderedJson& document,
                                             const std::string& where) {
  FERRUM_CHECK(ref.starts_with("#"), ErrorCode::kUnsupported, "$ref '", ref, "' at '", where,
               "': only references inside the schema (#/...) are supported");
  const auto key = std::make_pair(&document, ref);
  if (auto it = references_.find(key); it != references_.end()) return Expr::rule_ref(it->second);
  // Resolve the JSON pointer after '#'.
  const OrderedJson* target = &document;
  std::string_view pointer = std::string_view(ref).substr(1);
  while (!pointer.empty()) {
    FERRUM_CHECK(pointer[0] == '/', ErrorCode::kInvalidArgument, "$ref '", ref, "' is not a JSON pointer");
    pointer.remove_prefix(1);
    const size_t end = pointer.find('/');
    std::string token(pointer.substr(0, end));
    pointer = end == std::string_view::npos ? std::string_view() : pointer.substr(end);
    std::string unescaped;
    for (size_t i = 0; i < token.size(); ++i) {
      if (token[i] == '~' && i + 1 < token.size()) {
        unescaped += token[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        unescaped += token[i];
      }
    }
    if (target->is_object() && target->contains(unescaped)) {
      target = &(*target)[unescaped];
    } else if (target->is_array() && !unescaped.empty() &&
               unescaped.find_first_not_of("0123456789") == std::string::npos &&
               std::stoull(unescaped) < target->size()) {
      target = &(*target)[std::stoull(unescaped)];
    } else {
      return make_error(ErrorCode::kInvalidArgument, "$ref '", ref, "' at '", where, "' points at nothing");
    }
  }
  // A rule before compiling the target, so a reference back to it (recursion) finds the rule.
  const RuleId rule = grammar_.declare("ref" + ref);
  references_.emplace(key, rule);
  FERRUM_ASSIGN_OR_RETURN(Expr body, compile(*target, document, ref.substr(1)));
  grammar_.define(rule, std::move(body));
  return Expr::rule_ref(rule);
}

Expected<Grammar> json_schema_grammar(const OrderedJson& schema) {
  JsonGrammarBuilder builder;
  FERRUM_ASSIGN_OR_RETURN(Expr value, builder.value(schema, schema));
  return builder.finish(Expr::seq({JsonGrammarBuilder::ws(), std::move(value)}));
}

Grammar json_object_grammar() {
  JsonGrammarBuilder builder;
  Expr object = builder.any_object();
  return builder.finish(Expr::seq({JsonGrammarBuilder::ws(), std::move(object)}));
}

}  // namespace ferrum::grammar
