// UTF-8 repair policies, the GPT-2 byte table, clean-up and the streaming detokenizer's handling of
// characters split across tokens.
#include <gtest/gtest.h>

#include "fixture_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/utf8.h"

namespace ferrum::tokenizer::testing {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8, ReplacementPolicies) {
  // E4 B8 is an incomplete 3-byte sequence: one maximal subpart, two bytes.
  EXPECT_EQ(to_valid_utf8("\xE4\xB8", Utf8Replacement::kPerMaximalSubpart), kFffd);
  EXPECT_EQ(to_valid_utf8("\xE4\xB8", Utf8Replacement::kPerByte), kFffd + kFffd);
  // E0 80: E0 needs A0..BF next, so E0 alone is a subpart and 80 another.
  EXPECT_EQ(to_valid_utf8("\xE0\x80", Utf8Replacement::kPerMaximalSubpart), kFffd + kFffd);
  // Surrogates and overlongs are malformed.
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\xA6\x99 ok"));
  EXPECT_EQ(to_valid_utf8("a\xF0\x9F\xA6"
                          "b",
                          Utf8Replacement::kPerMaximalSubpart),
            "a" + kFffd + "b");
}

TEST(ByteLevel, TableIsABijection) {
  EXPECT_EQ(byte_to_byte_level_code_point(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(byte_to_byte_level_code_point('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(byte_to_byte_level_code_point('A'), static_cast<uint32_t>('A'));
  for (int byte = 0; byte < 256; ++byte) {
    auto back = byte_level_code_point_to_byte(byte_to_byte_level_code_point(static_cast<uint8_t>(byte)));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, byte);
  }
  std::string all_bytes;
  for (int byte = 0; byte < 256; ++byte) all_bytes += static_cast<char>(byte);
  std::string spelled, decoded;
  append_byte_level(spelled, all_bytes);
  ASSERT_TRUE(decode_byte_level(spelled, decoded));
  EXPECT_EQ(decoded, all_bytes);
}

TEST(CleanUp, TransformersPatterns) {
  EXPECT_EQ(clean_up_tokenization_spaces("Hello , world . Is it ? Yes ! I 'm sure it 's fine"),
            "Hello, world. Is it? Yes! I'm sure it's fine");
  EXPECT_EQ(clean_up_tokenization_spaces("do n't ' quote ' they 've we 're"), "don't'quote'they've we're");
}

std::vector<std::string> stream_chunks(const Vocab& vocab, const std::vector<TokenId>& ids, DecodeOptions options) {
  StreamingDetokenizer stream(vocab, options);
  std::vector<std::string> chunks;
  for (TokenId id : ids) chunks.push_back(*stream.push(id));
  chunks.push_back(stream.finish());
  return chunks;
}

TEST(Streaming, HoldsSplitCharactersUntilComplete) {
  const Tokenizer* llama3 = fixture_tokenizer("llama3/tokenizer.json");
  ASSERT_NE(llama3, nullptr);
  // "Hello 世界 🦙": 🦙 is spread over the last three tokens (11410 = " \xF0\x9F", 99, 247).
  const auto chunks = stream_chunks(llama3->vocab(), {9906, 127365, 11410, 99, 247}, {});
  ASSERT_EQ(chunks.size(), 6u);
  EXPECT_EQ(chunks[0], "Hello");
  EXPECT_EQ(chunks[2], " ");  // the space is complete; the emoji's first bytes wait
  EXPECT_EQ(chunks[3], "");
  EXPECT_EQ(chunks[4], "\xF0\x9F\xA6\x99");
  EXPECT_EQ(chunks[5], "");
  // Cut short: the partial character is flushed as one U+FFFD by finish().
  const auto cut = stream_chunks(llama3->vocab(), {9906, 127365, 11410, 99}, {});
  EXPECT_EQ(cut.back(), kFffd);
}

TEST(Streaming, ByteFallbackPiecesAndSentencePieceReplacement) {
  const Tokenizer* spm = fixture_tokenizer("ggml-vocab-llama-spm.gguf");
  ASSERT_NE(spm, nullptr);
  // <0xE4><0xB8><0x96> = 世 from byte pieces.
  auto chunks = stream_chunks(spm->vocab(), {231, 187, 153}, {});
  EXPECT_EQ(chunks[0] + chunks[1], "");
  EXPECT_EQ(chunks[2], "\xE4\xB8\x96");
  // A stray continuation byte cannot start anything: replaced at once, not at the end.
  chunks = stream_chunks(spm->vocab(), {131, 15043}, {.render_special = false, .sentencepiece_rules = true});
  EXPECT_EQ(chunks[0], kFffd);
  // SentencePiece replaces an incomplete sequence byte by byte.
  chunks = stream_chunks(spm->vocab(), {231, 187}, {.render_special = false, .sentencepiece_rules = true});
  EXPECT_EQ(chunks.back(), kFffd + kFffd);
}

TEST(Streaming, CleanUpWaitsForTheNextToken) {
  const Tokenizer* llama3 = fixture_tokenizer("llama3/tokenizer.json");
  ASSERT_NE(llama3, nullptr);
  // "Hello" " ," " world": the space before ',' must not be emitted before ',' arrives.
  const auto chunks = stream_chunks(llama3->vocab(), {9906, 1174, 1917}, {.clean_up_spaces = true});
  std::string joined;
  for (const auto& chunk : chunks) joined += chunk;
  EXPECT_EQ(joined, "Hello, world");
}

}  // namespace
}  // namespace ferrum::tokenizer::testing
