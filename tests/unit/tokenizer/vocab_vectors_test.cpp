// Every case of every vocabulary in fixtures/tokenizer against the ids the reference tokenizers
// produced (README's table / pairs.json): add_special=false, parse_special=false.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture_util.h"

namespace ferrum::tokenizer::testing {
namespace {

struct VectorPair {
  std::string vectors;    // base name of the .inp/.out files
  std::string tokenizer;  // fixture path of the tokenizer to load
};

std::vector<VectorPair> read_pairs() {
  const auto pairs = nlohmann::json::parse(read_file_bytes(tokenizer_fixtures_dir() / "pairs.json"));
  std::vector<VectorPair> out;
  for (const auto& pair : pairs) out.push_back({pair["vectors"], pair["tokenizer"]});
  return out;
}

void PrintTo(const VectorPair& pair, std::ostream* out) {
  *out << pair.vectors << " with " << pair.tokenizer;
}

class VocabVectors : public ::testing::TestWithParam<VectorPair> {};

TEST_P(VocabVectors, MatchesReferenceIds) {
  const VectorPair& pair = GetParam();
  const std::vector<std::string> inputs = read_vocab_test_inputs(tokenizer_fixtures_dir() / (pair.vectors + ".inp"));
  const std::vector<std::vector<TokenId>> expected =
      read_vocab_test_outputs(tokenizer_fixtures_dir() / (pair.vectors + ".out"));
  ASSERT_EQ(inputs.size(), 46u) << pair.vectors;
  ASSERT_GE(expected.size(), inputs.size()) << pair.vectors;
  const Tokenizer* tokenizer = fixture_tokenizer(pair.tokenizer);
  ASSERT_NE(tokenizer, nullptr);

  size_t passed = 0;
  std::string mismatches;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<TokenId> ids = tokenizer->encode(inputs[i], {.add_special = false, .parse_special = false});
    if (ids == expected[i]) {
      ++passed;
      continue;
    }
    mismatches += "  case " + std::to_string(i) + " \"" + escape_text(inputs[i]) + "\"\n    expected " +
                  format_ids(expected[i]) + "\n    got      " + format_ids(ids) + "\n";
  }
  std::printf("[ vectors  ] %-45s %zu/%zu passed\n", pair.vectors.c_str(), passed, inputs.size());
  EXPECT_EQ(passed, inputs.size()) << pair.vectors << " mismatches:\n" << mismatches;
}

std::string pair_name(const ::testing::TestParamInfo<VectorPair>& info) {
  std::string name = info.param.vectors;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, VocabVectors, ::testing::ValuesIn(read_pairs()), pair_name);

}  // namespace
}  // namespace ferrum::tokenizer::testing
