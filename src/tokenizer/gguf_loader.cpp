#include "tokenizer/gguf_loader.h"

#include <algorithm>
#include <cctype>

#include "core/log.h"
#include "tokenizer/pre_tokenizer.h"

namespace ferrum::tokenizer {
namespace {

Status read_token_id(const GgufFile& file, std::string_view key, TokenId& id) {
  if (!file.find(key)) return ok();
  FERRUM_ASSIGN_OR_RETURN(int64_t value, file.get_int(key));
  id = value < 0 ? kNoToken : static_cast<TokenId>(value);
  return ok();
}

Status read_flag(const GgufFile& file, std::string_view key, bool& flag) {
  FERRUM_ASSIGN_OR_RETURN(flag, file.get_bool_or(key, flag));
  return ok();
}

Expected<VocabModel> model_from_name(std::string_view name, const std::string& where) {
  if (name == "llama") return VocabModel::kSentencePiece;
  if (name == "gpt2") return VocabModel::kBytePairEncoding;
  if (name == "bert") return VocabModel::kWordPiece;
  return make_error(ErrorCode::kUnsupported, where, ": tokenizer.ggml.model '", name,
                    "' is not supported (llama, gpt2 and bert are)");
}

// llama.cpp's defaults before the file's own keys are applied.
void apply_model_defaults(VocabModel model, std::string_view pre_type, VocabSpec& vocab) {
  switch (model) {
    case VocabModel::kSentencePiece:
      vocab.special.bos = 1;
      vocab.special.eos = 2;
      vocab.special.unk = 0;
      vocab.flags.add_bos = true;
      vocab.flags.add_space_prefix = true;
      vocab.flags.byte_fallback = true;
      break;
    case VocabModel::kBytePairEncoding:
      vocab.special.bos = 11;
      vocab.special.eos = 11;
      // Llama 3 style vocabularies emit a word that is itself a token without merging it.
      vocab.flags.ignore_merges =
          PreTokenizer::gguf_pre_type_patterns(pre_type) == PreTokenizer::gguf_pre_type_patterns("llama-bpe");
      vocab.flags.add_bos = vocab.flags.ignore_merges;
      break;
    case VocabModel::kWordPiece:
      vocab.special.bos = 101;  // [CLS]
      vocab.special.unk = 100;
      vocab.special.sep = 102;
      vocab.special.pad = 0;
      vocab.special.mask = 103;
      vocab.flags.add_bos = true;
      vocab.flags.add_sep = true;
      break;
  }
}

bool name_mentions_phi3(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find("phi-3") != std::string::npos || lower.find("phi3") != std::string::npos;
}

// Control, unknown and user-defined tokens are matched in text before the model runs; the first
// two only when the caller parses special tokens.
void collect_added_tokens(VocabSpec& vocab, bool phi3_rstrip) {
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    const TokenType type = vocab.types[id];
    if (type != TokenType::kControl && type != TokenType::kUnknown && type != TokenType::kUserDefined) continue;
    AddedToken token;
    token.id = static_cast<TokenId>(id);
    token.content = vocab.tokens[id];
    token.special = type != TokenType::kUserDefined;
    // Phi-3's chat markers swallow the newline after them; llama.cpp hard-codes this by model name
    // because the GGUF has no key for it, and exempts these three.
    token.rstrip =
        phi3_rstrip && token.content != "<unk>" && token.content != "<s>" && token.content != "<|endoftext|>";
    vocab.added_tokens.push_back(std::move(token));
  }
}

}  // namespace

Expected<TokenizerSpec> read_gguf_tokenizer_spec(const GgufFile& file) {
  const std::string where = file.path();
  TokenizerSpec spec;
  spec.source = where;
  VocabSpec& vocab = spec.vocab;

  FERRUM_ASSIGN_OR_RETURN(std::string_view model_name, file.get_string("tokenizer.ggml.model"));
  FERRUM_ASSIGN_OR_RETURN(vocab.model, model_from_name(model_name, where));
  FERRUM_ASSIGN_OR_RETURN(std::string_view pre_type, file.get_string_or("tokenizer.ggml.pre", ""));
  if (vocab.model == VocabModel::kBytePairEncoding && pre_type.empty()) {
    FERRUM_LOG_WARN(where,
                    ": no tokenizer.ggml.pre; using llama.cpp's 'default' pre-tokenizer, which may split "
                    "words differently from the model's own tokenizer");
    pre_type = "default";
  }
  spec.pre_type = std::string(pre_type);

  FERRUM_ASSIGN_OR_RETURN(const GgufArray* tokens, file.get_array("tokenizer.ggml.tokens"));
  FERRUM_CHECK(tokens->element_type() == GgufValueType::kString, ErrorCode::kParse, where,
               ": tokenizer.ggml.tokens is not an array of strings");
  vocab.tokens.assign(tokens->strings().begin(), tokens->strings().end());
  const size_t n = vocab.tokens.size();

  if (file.find("tokenizer.ggml.scores")) {
    FERRUM_ASSIGN_OR_RETURN(const GgufArray* scores, file.get_array("tokenizer.ggml.scores"));
    FERRUM_ASSIGN_OR_RETURN(vocab.scores, scores->to_vector<float>());
  }
  vocab.types.assign(n, TokenType::kNormal);
  if (file.find("tokenizer.ggml.token_type")) {
    FERRUM_ASSIGN_OR_RETURN(const GgufArray* types, file.get_array("tokenizer.ggml.token_type"));
    FERRUM_ASSIGN_OR_RETURN(std::vector<int32_t> values, types->to_vector<int32_t>());
    FERRUM_CHECK(values.size() == n, ErrorCode::kShapeMismatch, where, ": ", n, " tokens but ", values.size(),
                 " token types");
    for (size_t id = 0; id < n; ++id) {
      FERRUM_CHECK(values[id] >= 0 && values[id] <= 6, ErrorCode::kParse, where, ": token ", id, " has type ",
                   values[id]);
      vocab.types[id] = static_cast<TokenType>(values[id]);
    }
  }
  if (vocab.model == VocabModel::kBytePairEncoding) {
    FERRUM_ASSIGN_OR_RETURN(const GgufArray* merges, file.get_array("tokenizer.ggml.merges"));
    FERRUM_CHECK(merges->element_type() == GgufValueType::kString, ErrorCode::kParse, where,
                 ": tokenizer.ggml.merges is not an array of strings");
    vocab.merges.reserve(merges->size());
    for (std::string_view merge : merges->strings()) {
      const size_t space = merge.find(' ', 1);
      FERRUM_CHECK(space != std::string_view::npos, ErrorCode::kParse, where, ": merge '", merge, "' has no space");
      vocab.merges.emplace_back(std::string(merge.substr(0, space)), std::string(merge.substr(space + 1)));
    }
    spec.pipeline.split_patterns = PreTokenizer::gguf_pre_type_patterns(pre_type);
    FERRUM_CHECK(!spec.pipeline.split_patterns.empty(), ErrorCode::kUnsupported, where,
                 ": unknown tokenizer.ggml.pre '", pre_type, "'");
  }

  apply_model_defaults(vocab.model, pre_type, vocab);
  FERRUM_TRY(read_token_id(file, "tokenizer.ggml.bos_token_id", vocab.special.bos));
  FERRUM_TRY(read_token_id(file, "tokenizer.ggml.eos_token_id", vocab.special.eos));
  FERRUM_TRY(read_token_id(file, "tokenizer.ggml.unknown_token_id", vocab.special.unk));
  FERRUM_TRY(read_token_id(file, "tokenizer.ggml.seperator_token_id", vocab.special.sep));  // sic, the key's spelling
  FERRUM_TRY(read_token_id(file, "tokenizer.ggml.padding_token_id", vocab.special.pad));
  FERRUM_TRY(read_token_id(file, "tokenizer.ggml.cls_token_id", vocab.special.cls));
  FERRUM_TRY(read_token_id(file, "tokenizer.ggml.mask_token_id", vocab.special.mask));
  if (vocab.model == VocabModel::kWordPiece && vocab.special.cls != kNoToken) vocab.special.bos = vocab.special.cls;
  FERRUM_TRY(read_flag(file, "tokenizer.ggml.add_bos_token", vocab.flags.add_bos));
  FERRUM_TRY(read_flag(file, "tokenizer.ggml.add_eos_token", vocab.flags.add_eos));
  FERRUM_TRY(read_flag(file, "tokenizer.ggml.add_sep_token", vocab.flags.add_sep));
  FERRUM_TRY(read_flag(file, "tokenizer.ggml.add_space_prefix", vocab.flags.add_space_prefix));
  // A default id past the end of a small vocabulary (BPE's 11) means "none".
  for (TokenId* id : {&vocab.special.bos, &vocab.special.eos, &vocab.special.unk, &vocab.special.sep,
                      &vocab.special.pad, &vocab.special.cls, &vocab.special.mask}) {
    if (*id != kNoToken && static_cast<size_t>(*id) >= n) *id = kNoToken;
  }

  FERRUM_ASSIGN_OR_RETURN(std::string_view general_name, file.get_string_or("general.name", ""));
  collect_added_tokens(vocab, vocab.model == VocabModel::kSentencePiece && name_mentions_phi3(general_name));

  spec.pipeline.added_token_matching = AddedTokenMatching::kLongestTokenFirst;
  spec.pipeline.input_replacement = Utf8Replacement::kPerByte;
  return spec;
}

}  // namespace ferrum::tokenizer
