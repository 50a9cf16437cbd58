// decode/*.decode.json: full decoding and the streaming detokenizer against HF tokenizers (llama3,
// qwen3), SentencePiece and llama.cpp (llama-spm), byte for byte.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture_util.h"
#include "tokenizer/detokenizer.h"

namespace ferrum::tokenizer::testing {
namespace {

using nlohmann::json;

std::string hex_to_bytes(const std::string& hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return bytes;
}

json read_decode_cases(const std::string& name) {
  return json::parse(read_file_bytes(tokenizer_fixtures_dir() / "decode" / (name + ".decode.json")));
}

std::vector<TokenId> ids_of(const json& entry) {
  return entry["ids"].get<std::vector<TokenId>>();
}

std::string streamed(const Vocab& vocab, const std::vector<TokenId>& ids, const DecodeOptions& options) {
  StreamingDetokenizer stream(vocab, options);
  std::string out;
  for (TokenId id : ids) {
    auto piece = stream.push(id);
    EXPECT_TRUE(piece) << piece.error().to_string();
    if (!piece) return out;
    EXPECT_TRUE(is_valid_utf8(*piece)) << "streamed chunk is not valid UTF-8: " << escape_text(*piece);
    out += *piece;
  }
  return out + stream.finish();
}

// Checks full and streamed decoding of every case against `field` (falling back to `fallback`
// where the fixture leaves a field out because it equals the other), and counts passes.
size_t check_text_field(const Vocab& vocab, const json& cases, const DecodeOptions& options, const std::string& field,
                        const std::string& fallback, const std::string& label) {
  size_t passed = 0;
  for (const json& entry : cases) {
    const std::string expected = entry.value(field, entry.value(fallback, std::string()));
    const std::vector<TokenId> ids = ids_of(entry);
    auto text = decode(vocab, ids, options);
    if (!text) {
      ADD_FAILURE() << label << " case " << entry["name"] << ": " << text.error().to_string();
      continue;
    }
    const std::string stream_text = streamed(vocab, ids, options);
    EXPECT_EQ(*text, expected) << label << " case " << entry["name"] << ": decode gave '" << escape_text(*text)
                               << "', expected '" << escape_text(expected) << "'";
    EXPECT_EQ(stream_text, *text) << label << " case " << entry["name"] << ": streaming gave '"
                                  << escape_text(stream_text) << "'";
    if (*text == expected && stream_text == *text) ++passed;
  }
  std::printf("[ decode   ] %-40s %zu/%zu passed\n", label.c_str(), passed, cases.size());
  return passed;
}

void check_bytes_and_pieces(const Vocab& vocab, const json& cases, const DecodeOptions& options,
                            const DecodeOptions& piece_options, const std::string& bytes_field,
                            const std::string& pieces_field) {
  for (const json& entry : cases) {
    const std::vector<TokenId> ids = ids_of(entry);
    auto bytes = decode_bytes(vocab, ids, options);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(escape_text(*bytes), escape_text(hex_to_bytes(entry[bytes_field]))) << entry["name"];
    const auto pieces = entry[pieces_field].get<std::vector<std::string>>();
    ASSERT_EQ(pieces.size(), ids.size()) << entry["name"];
    for (size_t i = 0; i < ids.size(); ++i) {
      auto piece = token_piece(vocab, ids[i], piece_options);
      ASSERT_TRUE(piece);
      EXPECT_EQ(escape_text(*piece), escape_text(hex_to_bytes(pieces[i]))) << entry["name"] << " token " << ids[i];
    }
  }
}

TEST(DecodeFixtures, Qwen3) {
  const Tokenizer* tokenizer = fixture_tokenizer("qwen3/tokenizer.json");
  ASSERT_NE(tokenizer, nullptr);
  const json cases = read_decode_cases("qwen3");
  ASSERT_EQ(cases.size(), 24u);
  const Vocab& vocab = tokenizer->vocab();
  EXPECT_EQ(check_text_field(vocab, cases, {.render_special = true}, "text", "text", "qwen3 text"), cases.size());
  EXPECT_EQ(check_text_field(vocab, cases, {.render_special = false}, "text_skip_special", "text",
                             "qwen3 skip_special_tokens"),
            cases.size());
  check_bytes_and_pieces(vocab, cases, {.render_special = true}, {.render_special = true}, "bytes_hex", "pieces_hex");
}

TEST(DecodeFixtures, Llama3) {
  const Tokenizer* tokenizer = fixture_tokenizer("llama3/tokenizer.json");
  ASSERT_NE(tokenizer, nullptr);
  const json cases = read_decode_cases("llama3");
  ASSERT_EQ(cases.size(), 24u);
  const Vocab& vocab = tokenizer->vocab();
  EXPECT_TRUE(vocab.flags().clean_up_spaces) << "tokenizer_config.json sets clean_up_tokenization_spaces";
  EXPECT_EQ(check_text_field(vocab, cases, {.render_special = true}, "text", "text", "llama3 text"), cases.size());
  EXPECT_EQ(check_text_field(vocab, cases, {.render_special = false}, "text_skip_special", "text",
                             "llama3 skip_special_tokens"),
            cases.size());
  EXPECT_EQ(check_text_field(vocab, cases, {.render_special = true, .clean_up_spaces = true},
                             "text_transformers_cleanup", "text", "llama3 transformers clean-up"),
            cases.size());
  check_bytes_and_pieces(vocab, cases, {.render_special = true}, {.render_special = true}, "bytes_hex", "pieces_hex");
}

TEST(DecodeFixtures, LlamaSpmSentencePieceAndLlamaCpp) {
  const Tokenizer* tokenizer = fixture_tokenizer("ggml-vocab-llama-spm.gguf");
  ASSERT_NE(tokenizer, nullptr);
  const json cases = read_decode_cases("llama-spm");
  ASSERT_EQ(cases.size(), 21u);
  const Vocab& vocab = tokenizer->vocab();
  EXPECT_EQ(check_text_field(vocab, cases, {.render_special = false, .sentencepiece_rules = true}, "text", "text",
                             "llama-spm SentencePiece DecodeIds"),
            cases.size());
  EXPECT_EQ(check_text_field(vocab, cases, {.render_special = false}, "text_llamacpp", "text_llamacpp",
                             "llama-spm llama.cpp"),
            cases.size());
  EXPECT_EQ(check_text_field(vocab, cases, {.render_special = false, .remove_bos_eos = true},
                             "text_llamacpp_remove_special", "text_llamacpp", "llama-spm llama.cpp remove_special"),
            cases.size());
  EXPECT_EQ(check_text_field(vocab, cases, {.render_special = true}, "text_llamacpp_unparse_special", "text_llamacpp",
                             "llama-spm llama.cpp unparse_special"),
            cases.size());
  // llama_detokenize(remove_special=false, unparse_special=false); llama_token_to_piece(special=true).
  check_bytes_and_pieces(vocab, cases, {.render_special = false}, {.render_special = true}, "bytes_hex_llamacpp",
                         "pieces_hex_llamacpp");
  for (const json& entry : cases) {
    const std::vector<TokenId> ids = ids_of(entry);
    const auto pieces = entry["pieces"].get<std::vector<std::string>>();
    for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(vocab.text(ids[i]), pieces[i]) << entry["name"];
  }
}

// Every fixture encoding streams to the same text as the full decode, and byte-level and
// SentencePiece vocabularies give the input back.
TEST(DecodeFixtures, StreamingMatchesFullDecodeOnFixtureEncodings) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"ggml-vocab-gpt-2.gguf", "ggml-vocab-gpt-2.gguf"},
      {"ggml-vocab-phi-3.gguf", "ggml-vocab-phi-3.gguf"},
      {"ggml-vocab-bert-bge.gguf", "ggml-vocab-bert-bge.gguf"},
      {"ggml-vocab-falcon.gguf", "ggml-vocab-falcon.gguf"},
      {"ggml-vocab-mpt.gguf", "ggml-vocab-mpt.gguf"},
      {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-spm.gguf"},
      {"ggml-vocab-llama-bpe.gguf", "llama3/tokenizer.json"},
      {"ggml-vocab-qwen2.gguf", "qwen3/tokenizer.json"},
  };
  for (const auto& [vectors, tokenizer_path] : pairs) {
    const Tokenizer* tokenizer = fixture_tokenizer(tokenizer_path);
    ASSERT_NE(tokenizer, nullptr);
    const bool lossless = tokenizer->vocab().model() != VocabModel::kWordPiece;
    size_t round_trips = 0;
    const auto inputs = read_vocab_test_inputs(tokenizer_fixtures_dir() / (vectors + ".inp"));
    for (const std::string& input : inputs) {
      const std::vector<TokenId> ids = tokenizer->encode(input, {.add_special = true});
      for (const DecodeOptions& options :
           {DecodeOptions{.render_special = false, .sentencepiece_rules = true}, DecodeOptions{.render_special = true},
            DecodeOptions{.render_special = true, .clean_up_spaces = true}}) {
        auto text = decode(tokenizer->vocab(), ids, options);
        ASSERT_TRUE(text);
        EXPECT_EQ(streamed(tokenizer->vocab(), ids, options), *text) << vectors << ": " << escape_text(input);
      }
      auto plain = decode(tokenizer->vocab(), ids, {.render_special = false, .sentencepiece_rules = true});
      if (lossless && *plain == input) ++round_trips;
    }
    std::printf("[ roundtrip] %-40s %zu/%zu decode(encode(x)) == x\n", vectors.c_str(), round_trips, inputs.size());
    if (lossless) {
      EXPECT_EQ(round_trips, inputs.size()) << vectors;
    }
  }
}

}  // namespace
}  // namespace ferrum::tokenizer::testing
