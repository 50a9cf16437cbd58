#include "models/gguf_tokenizer_export.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "formats/json_file.h"
#include "tokenizer/hf_loader.h"
#include "tokenizer/pre_tokenizer.h"

namespace ferrum {
namespace {

using tokenizer::TokenType;

// Words of `text` under a pre-tokenizer, for comparing two of them by what they do.
std::vector<std::string_view> words_of(const tokenizer::PreTokenizer& pre, std::string_view text) {
  std::vector<std::string_view> words;
  pre.split(text, words);
  return words;
}

// The GGUF pre-tokenizer name for the regex chain `patterns`: the known type whose regexes are the
// same text, else the first that splits a probe text (contractions in both cases, digit runs,
// punctuation, whitespace and newline runs, accented and CJK letters, emoji) into the same words,
// since tokenizer.json files spell equivalent regexes differently. The names llama.cpp's converter
// writes for the common families are tried first.
std::string pre_type_name(const std::vector<std::string>& patterns) {
  std::vector<std::string_view> candidates = {"llama-bpe", "qwen2", "gpt-2", "deepseek-v3"};
  for (std::string_view name : tokenizer::PreTokenizer::known_gguf_pre_types()) candidates.push_back(name);
  for (std::string_view name : candidates) {
    if (tokenizer::PreTokenizer::gguf_pre_type_patterns(name) == patterns) return std::string(name);
  }
  auto source = tokenizer::PreTokenizer::from_patterns(patterns);
  if (!source) return "default";
  static constexpr std::string_view kProbe =
      "Hello World! I'm HERE, you'RE there; we'll 've 'd it's 1234567 3.14 12,345\n\n  \t tabs\r\n"
      "   spaces    before  ünïcödé Ærøskøbing 你好世界 こんにちは 🦙🚀 $100 #tag @user (x+y)=z... "
      "---";
  const std::vector<std::string_view> expected = words_of(*source, kProbe);
  for (std::string_view name : candidates) {
    auto candidate = tokenizer::PreTokenizer::for_gguf_pre_type(name);
    if (candidate && words_of(*candidate, kProbe) == expected) return std::string(name);
  }
  return "default";
}

Status write_chat_templates(GgufWriter& writer, const std::filesystem::path& config_path) {
  if (config_path.empty() || !std::filesystem::exists(config_path)) return ok();
  FERRUM_ASSIGN_OR_RETURN(nlohmann::json config, read_json_file(config_path));
  const auto found = config.find("chat_template");
  if (found == config.end()) return ok();
  if (found->is_string()) {
    writer.set_string("tokenizer.chat_template", found->get<std::string>());
    return ok();
  }
  FERRUM_CHECK(found->is_array(), ErrorCode::kParse, config_path.string(),
               ": chat_template is neither a string nor a list of named templates");
  for (const nlohmann::json& entry : *found) {
    FERRUM_CHECK(entry.is_object() && entry.contains("name") && entry.contains("template") &&
                     entry["name"].is_string() && entry["template"].is_string(),
                 ErrorCode::kParse, config_path.string(), ": a chat_template entry lacks a name or template");
    const std::string name = entry["name"].get<std::string>();
    writer.set_string(name == "default" ? std::string("tokenizer.chat_template") : "tokenizer.chat_template." + name,
                      entry["template"].get<std::string>());
  }
  return ok();
}

}  // namespace

Status write_tokenizer_metadata(GgufWriter& writer, const std::filesystem::path& tokenizer_json,
                                const std::filesystem::path& config_path, size_t vocab_size) {
  FERRUM_ASSIGN_OR_RETURN(tokenizer::TokenizerSpec spec,
                          tokenizer::read_hf_tokenizer_spec(tokenizer_json, config_path));
  const tokenizer::VocabSpec& vocab = spec.vocab;
  FERRUM_CHECK(vocab.model == tokenizer::VocabModel::kBytePairEncoding, ErrorCode::kUnsupported,
               tokenizer_json.string(), ": only byte-level BPE tokenizers are exported to GGUF");
  if (vocab_size == 0) vocab_size = vocab.tokens.size();
  FERRUM_CHECK(vocab.tokens.size() <= vocab_size, ErrorCode::kShapeMismatch, tokenizer_json.string(), " has ",
               vocab.tokens.size(), " tokens, more than the model's vocabulary of ", vocab_size);

  std::vector<std::string> tokens = vocab.tokens;
  std::vector<int32_t> types(vocab_size, static_cast<int32_t>(TokenType::kNormal));
  for (size_t id = 0; id < vocab.types.size(); ++id) types[id] = static_cast<int32_t>(vocab.types[id]);
  for (const tokenizer::AddedToken& added : vocab.added_tokens) {
    if (added.id < 0 || static_cast<size_t>(added.id) >= vocab_size) continue;
    types[static_cast<size_t>(added.id)] =
        static_cast<int32_t>(added.special ? TokenType::kControl : TokenType::kUserDefined);
  }
  for (size_t id = tokens.size(); id < vocab_size; ++id) {
    tokens.push_back("[PAD" + std::to_string(id) + "]");
    types[id] = static_cast<int32_t>(TokenType::kUnused);
  }
  std::vector<std::string> merges;
  merges.reserve(vocab.merges.size());
  for (const auto& [left, right] : vocab.merges) merges.push_back(left + " " + right);

  writer.set_string("tokenizer.ggml.model", "gpt2");
  writer.set_string("tokenizer.ggml.pre", pre_type_name(spec.pipeline.split_patterns));
  writer.set_string_array("tokenizer.ggml.tokens", tokens);
  writer.set_array<int32_t>("tokenizer.ggml.token_type", types);
  writer.set_string_array("tokenizer.ggml.merges", merges);
  const tokenizer::SpecialTokenIds& special = vocab.special;
  const auto set_id = [&](std::string_view key, tokenizer::TokenId id) {
    if (id != tokenizer::kNoToken) writer.set_u32(key, static_cast<uint32_t>(id));
  };
  set_id("tokenizer.ggml.bos_token_id", special.bos);
  set_id("tokenizer.ggml.eos_token_id", special.eos);
  set_id("tokenizer.ggml.unknown_token_id", special.unk);
  set_id("tokenizer.ggml.padding_token_id", special.pad);
  writer.set_bool("tokenizer.ggml.add_bos_token", vocab.flags.add_bos);
  writer.set_bool("tokenizer.ggml.add_eos_token", vocab.flags.add_eos);
  return write_chat_templates(writer, config_path);
}

}  // namespace ferrum
