// Encoding behaviour beyond the fixture vectors: special-token parsing, BOS/EOS flags, malformed
// UTF-8, pathological inputs and the stories260K model's llama.cpp tokenizations.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "fixture_util.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/loader.h"
#include "tokenizer/pre_tokenizer.h"

namespace ferrum::tokenizer::testing {
namespace {

TEST(EncodeBehaviour, ParseSpecialControlsControlTokens) {
  const Tokenizer* qwen = fixture_tokenizer("qwen3/tokenizer.json");
  ASSERT_NE(qwen, nullptr);
  const std::string text = "<|im_start|>user\nHi<|im_end|>";
  const auto parsed = qwen->encode(text, {.add_special = false, .parse_special = true});
  EXPECT_EQ(parsed, (std::vector<TokenId>{151644, 872, 198, 13048, 151645}));
  const auto literal = qwen->encode(text, {.add_special = false, .parse_special = false});
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 151644), 0) << format_ids(literal);
  auto round_trip = decode(qwen->vocab(), literal);
  ASSERT_TRUE(round_trip);
  EXPECT_EQ(*round_trip, text);
  // Non-special added tokens (<think>) are matched whatever parse_special says, as HF does.
  const auto think = qwen->encode("<think>\nhmm\n</think>", {.add_special = false, .parse_special = false});
  EXPECT_EQ(think, (std::vector<TokenId>{151667, 198, 71, 3821, 198, 151668}));
}

TEST(EncodeBehaviour, AddSpecialFollowsVocabularyFlags) {
  const Tokenizer* spm = fixture_tokenizer("ggml-vocab-llama-spm.gguf");
  ASSERT_NE(spm, nullptr);
  EXPECT_EQ(spm->encode("Hello world"), (std::vector<TokenId>{1, 15043, 3186}));
  EXPECT_EQ(spm->encode(""), (std::vector<TokenId>{1}));
  EXPECT_EQ(spm->encode("<s>Hello", {.add_special = false, .parse_special = true}),
            (std::vector<TokenId>{1, 15043}));  // the dummy prefix follows a special token

  const Tokenizer* bert = fixture_tokenizer("ggml-vocab-bert-bge.gguf");
  ASSERT_NE(bert, nullptr);
  const auto ids = bert->encode("Hello world");
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids.front(), 101);  // [CLS]
  EXPECT_EQ(ids.back(), 102);   // [SEP]
}

TEST(EncodeBehaviour, MpTUserDefinedSpaceRunsAlwaysMatch) {
  const Tokenizer* mpt = fixture_tokenizer("ggml-vocab-mpt.gguf");
  ASSERT_NE(mpt, nullptr);
  EXPECT_EQ(mpt->encode("  Hello", {.add_special = false}), (std::vector<TokenId>{50276, 12092}));
}

TEST(EncodeBehaviour, MalformedUtf8IsReplacedNotFatal) {
  const std::string malformed = std::string("ab\xE4\xB8") + "c\xFF\x80 d\xF0\x9F";
  for (const char* path : {"qwen3/tokenizer.json", "llama3/tokenizer.json", "ggml-vocab-llama-spm.gguf",
                           "ggml-vocab-gpt-2.gguf", "ggml-vocab-bert-bge.gguf"}) {
    const Tokenizer* tokenizer = fixture_tokenizer(path);
    ASSERT_NE(tokenizer, nullptr);
    const auto ids = tokenizer->encode(malformed, {.add_special = false});
    EXPECT_FALSE(ids.empty()) << path;
    if (tokenizer->vocab().model() == VocabModel::kWordPiece) continue;  // WordPiece drops U+FFFD
    auto text = decode(tokenizer->vocab(), ids, {.render_special = false});
    ASSERT_TRUE(text);
    // HF semantics: one U+FFFD per maximal subpart; llama.cpp's encoder: one per byte.
    const Utf8Replacement policy = tokenizer->pipeline().input_replacement;
    std::string expected = to_valid_utf8(malformed, policy);
    EXPECT_EQ(escape_text(*text), escape_text(expected)) << path;
  }
}

TEST(EncodeBehaviour, RejectsOutOfRangeIdsInDecode) {
  const Tokenizer* gpt2 = fixture_tokenizer("ggml-vocab-gpt-2.gguf");
  ASSERT_NE(gpt2, nullptr);
  const std::vector<TokenId> ids = {50256, 50257};
  auto text = decode(gpt2->vocab(), ids);
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code(), ErrorCode::kOutOfRange);
  StreamingDetokenizer stream(gpt2->vocab(), {});
  EXPECT_FALSE(stream.push(-5));
}

// One megabyte that is a single pre-tokenizer word, or one character repeated: the merge loops
// must stay near-linear. The budget is generous (a quadratic loop takes minutes here).
TEST(EncodeBehaviour, NoQuadraticBlowUpOnOneMegabyteWords) {
  const size_t size = 1 << 20;
  std::string letters(size, 'a');
  for (size_t i = 0; i < size; ++i) letters[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  const std::string same_letter(size, 'a');
  const std::string same_punct(size, '!');
  std::string cjk;                                  // filled below
  while (cjk.size() < size) cjk += "\xE6\x88\x91";  // 我, no spaces
  for (const char* path : {"llama3/tokenizer.json", "qwen3/tokenizer.json", "ggml-vocab-gpt-2.gguf",
                           "ggml-vocab-llama-spm.gguf", "ggml-vocab-bert-bge.gguf", "ggml-vocab-falcon.gguf"}) {
    const Tokenizer* tokenizer = fixture_tokenizer(path);
    ASSERT_NE(tokenizer, nullptr);
    for (const std::string* input :
         std::initializer_list<const std::string*>{&letters, &same_letter, &same_punct, &cjk}) {
      const auto start = std::chrono::steady_clock::now();
      const auto ids = tokenizer->encode(*input, {.add_special = false});
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_FALSE(ids.empty());
      EXPECT_LT(seconds, 10.0) << path << " took " << seconds << " s on a 1 MB word";
      if (tokenizer->vocab().model() != VocabModel::kWordPiece) {
        auto text = decode(tokenizer->vocab(), ids, {.render_special = false, .sentencepiece_rules = true});
        ASSERT_TRUE(text);
        EXPECT_TRUE(*text == *input) << path << ": 1 MB input does not round-trip";
      }
    }
  }
}

// Every pre-type's regexes compile under PCRE2 and split a mixed sample without losing a byte.
TEST(EncodeBehaviour, EveryKnownPreTypeCompilesAndCoversItsInput) {
  const std::string sample = "Hello, y'all! I've 12345 apples\n\n  \t\u00e9t\u00e9 \u6211\u60f3 \U0001F999 ...??";
  for (std::string_view name : PreTokenizer::known_gguf_pre_types()) {
    auto pre = PreTokenizer::for_gguf_pre_type(name);
    ASSERT_TRUE(pre) << name << ": " << pre.error().to_string();
    std::vector<std::string_view> words;
    pre->split(sample, words);
    std::string joined;
    for (std::string_view word : words) joined += word;
    EXPECT_EQ(joined, sample) << name;
  }
  EXPECT_FALSE(PreTokenizer::for_gguf_pre_type("no-such-pre-type"));
}

TEST(EncodeBehaviour, Stories260KMatchesLlamaCpp) {
  const auto model = std::filesystem::path(FERRUM_FIXTURES_DIR) / "stories260K" / "stories260K.gguf";
  auto tokenizer = load_tokenizer(model);
  ASSERT_TRUE(tokenizer) << tokenizer.error().to_string();
  const auto cases = nlohmann::json::parse(
      read_file_bytes(std::filesystem::path(FERRUM_FIXTURES_DIR) / "stories260K" / "llamacpp" / "tokenization.json"));
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& entry : cases) {
    const std::string prompt = entry["prompt"];
    EXPECT_EQ((*tokenizer)->encode(prompt), entry["ids_with_bos"].get<std::vector<TokenId>>()) << prompt;
    EXPECT_EQ((*tokenizer)->encode(prompt, {.add_special = false}),
              entry["ids_without_bos"].get<std::vector<TokenId>>())
        << prompt;
    for (const auto& pair : entry["pieces_with_bos"]) {
      auto piece = token_piece((*tokenizer)->vocab(), pair[0].get<TokenId>(), {.render_special = true});
      ASSERT_TRUE(piece);
      EXPECT_EQ(*piece, pair[1].get<std::string>());
    }
  }
}

}  // namespace
}  // namespace ferrum::tokenizer::testing
