// The added-token matcher on synthetic tokens: HF's lstrip/rstrip/single_word/normalized flags,
// special tokens gated by parse_special, and the two peers' overlap rules.
#include "tokenizer/added_token_matcher.h"

#include <gtest/gtest.h>

namespace ferrum::tokenizer {
namespace {

std::string render(const std::vector<Fragment>& fragments) {
  std::string out;
  for (const Fragment& fragment : fragments) {
    if (fragment.token == kNoToken) {
      out.append("[").append(fragment.text).append("]");
    } else {
      out.append("<").append(std::to_string(fragment.token)).append(">");
    }
  }
  return out;
}

std::string partition(const std::vector<AddedToken>& tokens, AddedTokenMatching matching, std::string_view text,
                      bool parse_special = true, bool normalized_pass = false) {
  AddedTokenMatcher matcher(tokens, matching);
  std::vector<Fragment> fragments;
  matcher.partition(text, parse_special, normalized_pass, fragments);
  return render(fragments);
}

TEST(AddedTokenMatcher, SpecialTokensNeedParseSpecial) {
  const std::vector<AddedToken> tokens = {{.id = 1, .content = "<s>", .special = true},
                                          {.id = 2, .content = "<think>", .special = false}};
  for (auto matching : {AddedTokenMatching::kLeftmostLongest, AddedTokenMatching::kLongestTokenFirst}) {
    EXPECT_EQ(partition(tokens, matching, "a<s>b<think>c", true), "[a]<1>[b]<2>[c]");
    EXPECT_EQ(partition(tokens, matching, "a<s>b<think>c", false), "[a<s>b]<2>[c]");
  }
}

TEST(AddedTokenMatcher, StripFlagsSwallowWhitespace) {
  const std::vector<AddedToken> tokens = {{.id = 7, .content = "<mask>", .lstrip = true},
                                          {.id = 8, .content = "<|end|>", .rstrip = true}};
  EXPECT_EQ(partition(tokens, AddedTokenMatching::kLeftmostLongest, "a  <mask> b"), "[a]<7>[ b]");
  EXPECT_EQ(partition(tokens, AddedTokenMatching::kLeftmostLongest, "x<|end|>\n\ny"), "[x]<8>[y]");
  EXPECT_EQ(partition(tokens, AddedTokenMatching::kLongestTokenFirst, "x<|end|>\n\ny"), "[x]<8>[y]");
}

TEST(AddedTokenMatcher, SingleWordRefusesMatchesInsideWords) {
  const std::vector<AddedToken> tokens = {{.id = 3, .content = "cat", .single_word = true}};
  EXPECT_EQ(partition(tokens, AddedTokenMatching::kLeftmostLongest, "a cat, concat"), "[a ]<3>[, concat]");
  EXPECT_EQ(partition(tokens, AddedTokenMatching::kLongestTokenFirst, "a cat, concat"), "[a ]<3>[, concat]");
}

TEST(AddedTokenMatcher, NormalizedTokensMatchOnlyInTheNormalizedPass) {
  const std::vector<AddedToken> tokens = {{.id = 4, .content = "caf\xC3\xA9", .normalized = true}};
  EXPECT_EQ(partition(tokens, AddedTokenMatching::kLeftmostLongest, "caf\xC3\xA9!", true, false), "[caf\xC3\xA9!]");
  EXPECT_EQ(partition(tokens, AddedTokenMatching::kLeftmostLongest, "caf\xC3\xA9!", true, true), "<4>[!]");
}

TEST(AddedTokenMatcher, OverlapRulesDifferAsThePeersDo) {
  // "ab" starts first (HF keeps it); "bcd" is longer (llama.cpp places it first).
  const std::vector<AddedToken> tokens = {{.id = 10, .content = "ab"}, {.id = 11, .content = "bcd"}};
  EXPECT_EQ(partition(tokens, AddedTokenMatching::kLeftmostLongest, "abcd"), "<10>[cd]");
  EXPECT_EQ(partition(tokens, AddedTokenMatching::kLongestTokenFirst, "abcd"), "[a]<11>");
}

}  // namespace
}  // namespace ferrum::tokenizer
