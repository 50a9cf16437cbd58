// The tokenizer shipped with a generated model, so `ferrum run` works on it end to end: either a
// small byte-level BPE vocabulary made up here (every byte, then merges of letter pairs, triples,
// ... until the preset's vocabulary size is filled, then four control tokens), or a real
// tokenizer.json given with --tokenizer. Either is written as HF files (tokenizer.json,
// tokenizer_config.json) or as GGUF tokenizer metadata.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf_writer.h"

namespace ferrum::synth {

// A byte-level BPE vocabulary as GGUF stores it.
struct BpeVocab {
  std::vector<std::string> tokens;   // byte-level spellings; index = id
  std::vector<int32_t> token_types;  // GGUF numbering: 1 normal, 3 control, 5 unused
  std::vector<std::string> merges;   // "left right", by rank
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t end_of_turn = -1;             // <|im_end|> of the ChatML template
  std::string pre_tokenizer = "gpt-2";  // tokenizer.ggml.pre (the split of the HF ByteLevel regex)
  std::string chat_template;
};

// The made-up vocabulary of exactly `vocab_size` tokens (at least 260).
Expected<BpeVocab> make_synthetic_vocab(size_t vocab_size);

// A real byte-level BPE tokenizer.json (and the tokenizer_config.json beside it, when present),
// padded with unused tokens to `vocab_size` so the GGUF vocabulary matches the embedding rows.
Expected<BpeVocab> read_bpe_vocab(const std::filesystem::path& tokenizer_json, size_t vocab_size,
                                  std::string pre_tokenizer);

// HF files for the made-up vocabulary.
std::string tokenizer_json_text(const BpeVocab& vocab);
std::string tokenizer_config_text(const BpeVocab& vocab);

// tokenizer.ggml.* metadata (and tokenizer.chat_template).
void add_gguf_tokenizer(GgufWriter& writer, const BpeVocab& vocab);

}  // namespace ferrum::synth
