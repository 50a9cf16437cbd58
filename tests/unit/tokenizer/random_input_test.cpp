// Random bytes in, random ids in: nothing crashes, output is always valid UTF-8, streaming always
// equals the full decode, and byte-level vocabularies give valid-UTF-8 input back unchanged.
#include <gtest/gtest.h>

#include <random>

#include "fixture_util.h"
#include "tokenizer/detokenizer.h"

namespace ferrum::tokenizer::testing {
namespace {

// Mostly ASCII and multi-byte characters with some malformed bytes mixed in, so that both the
// valid paths and the repair paths run.
std::string random_text(std::mt19937& rng, size_t length) {
  static const std::vector<std::string> fragments = {" ",
                                                     "  ",
                                                     "\n",
                                                     "\t",
                                                     "a",
                                                     "Z",
                                                     "'s",
                                                     "'ll",
                                                     "3",
                                                     "42",
                                                     ".",
                                                     "!",
                                                     "\xC3\xA9",
                                                     "\xE4\xB8\x96",
                                                     "\xF0\x9F\xA6\x99",
                                                     "\xE2\x80\x8D",
                                                     "\xCC\x81",
                                                     "<s>",
                                                     "<|im_start|>",
                                                     "\x80",
                                                     "\xFF",
                                                     "\xE4\xB8",
                                                     "\xF0\x9F",
                                                     "\xED\xA0\x80",
                                                     "\x00"};
  std::uniform_int_distribution<size_t> pick(0, fragments.size() - 1);
  std::string text;
  while (text.size() < length) text += fragments[pick(rng)];
  return text;
}

TEST(RandomInput, EncodeDecodeStreamNeverMisbehave) {
  std::mt19937 rng(20261126);
  for (const char* path :
       {"qwen3/tokenizer.json", "llama3/tokenizer.json", "ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf",
        "ggml-vocab-phi-3.gguf", "ggml-vocab-bert-bge.gguf", "ggml-vocab-mpt.gguf", "ggml-vocab-falcon.gguf"}) {
    const Tokenizer* tokenizer = fixture_tokenizer(path);
    ASSERT_NE(tokenizer, nullptr);
    const Vocab& vocab = tokenizer->vocab();
    std::uniform_int_distribution<TokenId> any_id(0, static_cast<TokenId>(vocab.size()) - 1);
    for (int round = 0; round < 200; ++round) {
      const std::string text = random_text(rng, 1 + round % 60);
      for (bool parse_special : {false, true}) {
        const auto ids = tokenizer->encode(text, {.add_special = true, .parse_special = parse_special});
        for (TokenId id : ids) ASSERT_TRUE(vocab.contains(id)) << path;
      }
      const auto ids = tokenizer->encode(text, {.add_special = false});
      const bool byte_level =
          vocab.model() == VocabModel::kBytePairEncoding && tokenizer->pipeline().normalization == Normalization::kNone;
      if (byte_level && is_valid_utf8(text)) {
        EXPECT_EQ(escape_text(*decode(vocab, ids)), escape_text(text)) << path;
      }

      std::vector<TokenId> random_ids;
      for (int i = 0; i < 1 + round % 20; ++i) random_ids.push_back(any_id(rng));
      for (const DecodeOptions& options :
           {DecodeOptions{}, DecodeOptions{.render_special = false}, DecodeOptions{.clean_up_spaces = true},
            DecodeOptions{.render_special = false, .sentencepiece_rules = true}}) {
        auto full = decode(vocab, random_ids, options);
        ASSERT_TRUE(full);
        EXPECT_TRUE(is_valid_utf8(*full));
        StreamingDetokenizer stream(vocab, options);
        std::string streamed;
        for (TokenId id : random_ids) streamed += *stream.push(id);
        streamed += stream.finish();
        EXPECT_EQ(escape_text(streamed), escape_text(*full)) << path << " ids " << format_ids(random_ids);
      }
    }
  }
}

}  // namespace
}  // namespace ferrum::tokenizer::testing
