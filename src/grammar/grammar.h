// Context-free grammars over bytes, the language of constrained decoding: a grammar is a set of
// named rules, each a regular expression over bytes and references to rules (which may recurse).
// JSON schemas (json_schema_grammar.h) and tool-call formats compile into this form; compile()
// turns it into the byte-level pushdown automaton that GrammarMatcher runs.
//
//   Grammar g;
//   const RuleId digits = g.declare("digits");
//   g.define(digits, Expr::repeat(Expr::range('0', '9'), 1, 8));
//   g.set_root(g.declare("root"));
//   g.define(g.root(), Expr::seq({Expr::literal("["), Expr::rule(digits), Expr::literal("]")}));
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ferrum::grammar {

using RuleId = uint32_t;
inline constexpr size_t kUnbounded = std::numeric_limits<size_t>::max();

// A set of byte values.
class ByteSet {
 public:
  void add(uint8_t byte) { bits_[byte >> 6] |= uint64_t{1} << (byte & 63); }
  void add_range(uint8_t lo, uint8_t hi) {
    for (unsigned b = lo; b <= hi; ++b) add(static_cast<uint8_t>(b));
  }
  bool contains(uint8_t byte) const { return (bits_[byte >> 6] >> (byte & 63)) & 1; }

 private:
  std::array<uint64_t, 4> bits_{};
};

// A regular expression over bytes and rule references.
struct Expr {
  enum class Kind { kLiteral, kByteSet, kSequence, kChoice, kRepeat, kRule };

  Kind kind = Kind::kSequence;  // an empty sequence matches the empty string
  std::string literal;
  ByteSet bytes;
  std::vector<Expr> children;
  size_t min = 0, max = 0;  // kRepeat
  RuleId rule = 0;

  static Expr literal_text(std::string_view text);
  static Expr byte_set(ByteSet set);
  static Expr range(uint8_t lo, uint8_t hi);
  static Expr seq(std::vector<Expr> parts);
  static Expr choice(std::vector<Expr> alternatives);
  static Expr repeat(Expr body, size_t min, size_t max);
  static Expr optional(Expr body) { return repeat(std::move(body), 0, 1); }
  static Expr rule_ref(RuleId rule);
  static Expr empty() { return seq({}); }
};

class Grammar {
 public:
  // A new rule; names are for messages and dumps and need not be unique.
  RuleId declare(std::string name);
  void define(RuleId rule, Expr body);
  void set_root(RuleId rule) { root_ = rule; }

  RuleId root() const { return root_; }
  size_t rule_count() const { return rules_.size(); }
  const std::string& rule_name(RuleId rule) const { return rules_[rule].name; }
  const Expr& rule_body(RuleId rule) const { return rules_[rule].body; }
  bool defined(RuleId rule) const { return rules_[rule].defined; }

 private:
  struct Rule {
    std::string name;
    Expr body;
    bool defined = false;
  };
  std::vector<Rule> rules_;
  RuleId root_ = 0;
};

// A bounded repetition expands into copies of its body; this caps how many a grammar may hold.
inline constexpr size_t kMaxRepeatCopies = 4096;

}  // namespace ferrum::grammar
