// Token masks against brute force: at every step of random walks through JSON-schema grammars,
// the cached mask must allow exactly the tokens whose bytes a fresh matcher accepts after the
// output so far. The vocabulary mixes single bytes with multi-byte tokens that cross JSON
// structure (`",`, `"}`, `1,`, `}]}`), which is where the per-rule cache must defer to the stack.
#include "grammar/grammar_constraint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "grammar/automaton.h"
#include "grammar/json_grammar.h"

namespace ferrum::grammar {
namespace {

std::vector<std::string> test_vocabulary() {
  std::vector<std::string> tokens;
  tokens.push_back("");  // a special token: no bytes
  for (int c = 0x20; c < 0x7f; ++c) tokens.push_back(std::string(1, static_cast<char>(c)));
  for (const char* piece : {"\",",
                            "\"}",
                            "\":",
                            "\"]",
                            "\" ",
                            "1,",
                            "0}",
                            "2]",
                            "}]}",
                            "}}",
                            "},{",
                            "{\"",
                            "[{",
                            "\"name\"",
                            "\"name\":",
                            "\"value\": ",
                            "true",
                            "false",
                            "null",
                            "tr",
                            "ue,",
                            " \"",
                            ", \"",
                            "12",
                            "345",
                            "-1",
                            ".5",
                            "e+",
                            "\\n",
                            "\\\"",
                            "abc",
                            "xyz\"",
                            "\"a\"}",
                            "\xc3\xa9",
                            "\xc3",
                            "\xa9",
                            "\xe2\x82\xac",
                            "\n",
                            "  ",
                            "}\n",
                            "\"children\":[",
                            "\"id\": 7}"}) {
    tokens.push_back(piece);
  }
  return tokens;
}

class ConstraintTest : public ::testing::Test {
 protected:
  void run_walks(const char* schema_text, int walks, int steps) {
    auto grammar = json_schema_grammar(OrderedJson::parse(schema_text));
    ASSERT_TRUE(grammar) << grammar.error().to_string();
    auto automaton = compile(*grammar);
    ASSERT_TRUE(automaton) << automaton.error().to_string();
    const auto shared_automaton = std::make_shared<const Automaton>(std::move(*automaton));
    const auto trie = std::make_shared<const TokenTrie>(TokenTrie::build(test_vocabulary()));
    auto masks = std::make_shared<GrammarTokenMasks>(shared_automaton, trie);
    const int32_t end_token = 0;
    std::mt19937 random(1234);
    size_t completed = 0;
    for (int walk = 0; walk < walks; ++walk) {
      GrammarConstraint constraint(masks, {end_token});
      std::string text;
      for (int step = 0; step < steps; ++step) {
        std::vector<float> logits(trie->vocab_size(), 0.0f);
        constraint.mask(logits);
        std::vector<int32_t> allowed;
        for (size_t token = 0; token < logits.size(); ++token) {
          // Brute force: a fresh matcher over everything so far plus this token.
          GrammarMatcher fresh(shared_automaton);
          ASSERT_TRUE(fresh.accept(text));
          bool expected = false;
          if (token == static_cast<size_t>(end_token)) {
            expected = fresh.accepting();
          } else {
            expected = fresh.accept(trie->token_bytes(static_cast<int32_t>(token)));
          }
          const bool masked_in = std::isfinite(logits[token]);
          ASSERT_EQ(masked_in, expected) << "token '" << trie->token_bytes(static_cast<int32_t>(token)) << "' after '"
                                         << text << "'";
          if (masked_in) allowed.push_back(static_cast<int32_t>(token));
        }
        ASSERT_FALSE(allowed.empty()) << "dead end after '" << text << "'";
        const int32_t choice = allowed[random() % allowed.size()];
        ASSERT_TRUE(constraint.accept(choice));
        if (choice == end_token) break;
        text += trie->token_bytes(choice);
        if (constraint.complete()) break;
      }
      if (constraint.complete() || constraint.matcher().accepting()) {
        ++completed;
        EXPECT_FALSE(OrderedJson::parse(text, nullptr, false).is_discarded()) << text;
      }
    }
    EXPECT_GT(completed, 0u) << "no walk finished a value; raise the step count";
  }
};

TEST_F(ConstraintTest, FlatObjectWithOptionalMembers) {
  run_walks(R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 3},
               "value": {"type": "integer", "minimum": -5, "maximum": 50}, "ok": {"type": "boolean"}},
               "required": ["name"], "additionalProperties": false})",
            40, 60);
}

TEST_F(ConstraintTest, NestedArraysAndRecursion) {
  run_walks(R"({"$defs": {"n": {"type": "object", "properties": {"id": {"type": "integer", "minimum": 0,
                 "maximum": 9}, "children": {"type": "array", "items": {"$ref": "#/$defs/n"}, "maxItems": 2}},
                 "required": ["id"], "additionalProperties": false}}, "$ref": "#/$defs/n"})",
            40, 80);
}

TEST_F(ConstraintTest, AnyJsonObject) {
  auto grammar = json_object_grammar();
  auto automaton = std::make_shared<const Automaton>(*compile(grammar));
  const std::vector<std::string> vocabulary = test_vocabulary();
  const auto trie = std::make_shared<const TokenTrie>(TokenTrie::build(vocabulary));
  auto masks = std::make_shared<GrammarTokenMasks>(automaton, trie);
  GrammarConstraint constraint(masks, {0});
  // A scripted path through tricky tokens: each must be allowed when it comes.
  for (const char* piece : {"{\"", "a", "\":", "[{", "\"name\":", "12", "}]}"}) {
    std::vector<float> logits(trie->vocab_size(), 0.0f);
    constraint.mask(logits);
    const auto it = std::find(vocabulary.begin(), vocabulary.end(), std::string(piece));
    const int32_t token = static_cast<int32_t>(it - vocabulary.begin());
    ASSERT_TRUE(std::isfinite(logits[static_cast<size_t>(token)])) << piece;
    ASSERT_TRUE(constraint.accept(token)) << piece;
  }
  EXPECT_TRUE(constraint.complete());
  EXPECT_GT(masks->stats().local_masks, 0u);
}

TEST(TokenTrie, DepthFirstLayout) {
  const TokenTrie trie = TokenTrie::build({"", "ab", "a", "b", "abc", "ab"});
  // Nodes: a, ab, abc, b; "ab" has two tokens (ids 1 and 5).
  ASSERT_EQ(trie.nodes().size(), 4u);
  EXPECT_EQ(trie.nodes()[0].byte, 'a');
  EXPECT_EQ(trie.nodes()[0].subtree_end, 3u);
  EXPECT_EQ(trie.nodes()[1].tokens_end - trie.nodes()[1].tokens_begin, 2u);
  EXPECT_EQ(trie.nodes()[3].byte, 'b');
  EXPECT_EQ(trie.nodes()[3].depth, 1u);
}

}  // namespace
}  // namespace ferrum::grammar
