#include "grammar/grammar.h"

namespace ferrum::grammar {

Expr Expr::literal_text(std::string_view text) {
  Expr e;
  e.kind = Kind::kLiteral;
  e.literal = std::string(text);
  return e;
}

Expr Expr::byte_set(ByteSet set) {
  Expr e;
  e.kind = Kind::kByteSet;
  e.bytes = set;
  return e;
}

Expr Expr::range(uint8_t lo, uint8_t hi) {
  ByteSet set;
  set.add_range(lo, hi);
  return byte_set(set);
}

Expr Expr::seq(std::vector<Expr> parts) {
  if (parts.size() == 1) return std::move(parts.front());
  Expr e;
  e.kind = Kind::kSequence;
  e.children = std::move(parts);
  return e;
}

Expr Expr::choice(std::vector<Expr> alternatives) {
  if (alternatives.size() == 1) return std::move(alternatives.front());
  Expr e;
  e.kind = Kind::kChoice;
  e.children = std::move(alternatives);
  return e;
}

Expr Expr::repeat(Expr body, size_t min, size_t max) {
  Expr e;
  e.kind = Kind::kRepeat;
  e.children.push_back(std::move(body));
  e.min = min;
  e.max = max;
  return e;
}

Expr Expr::rule_ref(RuleId rule) {
  Expr e;
  e.kind = Kind::kRule;
  e.rule = rule;
  return e;
}

RuleId Grammar::declare(std::string name) {
  rules_.push_back({std::move(name), Expr::empty(), false});
  return static_cast<RuleId>(rules_.size() - 1);
}

void Grammar::define(RuleId rule, Expr body) {
  rules_[rule].body = std::move(body);
  rules_[rule].defined = true;
}

}  // namespace ferrum::grammar
