#include "tokenizer/tokenizer.h"

#include "tokenizer/bpe_model.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/sentencepiece_model.h"
#include "tokenizer/unicode_props.h"
#include "tokenizer/wordpiece_model.h"

namespace ferrum::tokenizer {

// The algorithm objects hold a reference to the vocabulary, so they live behind a pointer that
// stays put while the Tokenizer is created and returned.
struct Tokenizer::Models {
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> bpe;
  std::unique_ptr<SentencePieceModel> sentencepiece;
  std::unique_ptr<WordPieceModel> wordpiece;
};

Tokenizer::Tokenizer(Vocab vocab, PipelineSpec pipeline) : vocab_(std::move(vocab)), pipeline_(std::move(pipeline)) {}
Tokenizer::~Tokenizer() = default;

Expected<std::unique_ptr<Tokenizer>> Tokenizer::create(TokenizerSpec spec) {
  FERRUM_ASSIGN_OR_RETURN(Vocab vocab, Vocab::create(std::move(spec.vocab)));
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer(std::move(vocab), std::move(spec.pipeline)));
  tokenizer->source_ = std::move(spec.source);
  tokenizer->pre_type_ = std::move(spec.pre_type);
  tokenizer->added_tokens_ =
      std::make_unique<AddedTokenMatcher>(tokenizer->vocab_.added_tokens(), tokenizer->pipeline_.added_token_matching);

  auto models = std::make_unique<Models>();
  const Vocab& v = tokenizer->vocab_;
  switch (v.model()) {
    case VocabModel::kBytePairEncoding: {
      FERRUM_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::from_patterns(tokenizer->pipeline_.split_patterns));
      models->pre_tokenizer = std::make_unique<PreTokenizer>(std::move(pre));
      models->bpe = std::make_unique<BpeModel>(v);
      break;
    }
    case VocabModel::kSentencePiece: models->sentencepiece = std::make_unique<SentencePieceModel>(v); break;
    case VocabModel::kWordPiece: models->wordpiece = std::make_unique<WordPieceModel>(v); break;
  }
  tokenizer->models_ = std::move(models);
  return tokenizer;
}

std::string Tokenizer::normalize(std::string_view text) const {
  switch (pipeline_.normalization) {
    case Normalization::kNone: return std::string(text);
    case Normalization::kNfc: return to_nfc(text);
    case Normalization::kNfkc: return to_nfkc(text);
  }
  return std::string(text);
}

std::vector<TokenId> Tokenizer::encode(std::string_view input, const EncodeOptions& options) const {
  // Every later stage may assume valid UTF-8; the copy is skipped for the usual valid input.
  std::string repaired;
  std::string_view text = input;
  if (!is_valid_utf8(input)) {
    repaired = to_valid_utf8(input, pipeline_.input_replacement);
    text = repaired;
  }

  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  const SpecialTokenIds& special = vocab_.special();
  const VocabFlags& flags = vocab_.flags();
  if (options.add_special && flags.add_bos && special.bos != kNoToken) out.push_back(special.bos);

  std::vector<Fragment> raw_fragments;
  added_tokens_->partition(text, options.parse_special, /*normalized_pass=*/false, raw_fragments);
  bool after_boundary = true;
  std::vector<Fragment> normalized_fragments;
  for (const Fragment& fragment : raw_fragments) {
    if (fragment.token != kNoToken) {
      out.push_back(fragment.token);
      after_boundary = true;
      continue;
    }
    const std::string normalized = normalize(fragment.text);
    normalized_fragments.clear();
    added_tokens_->partition(normalized, options.parse_special, /*normalized_pass=*/true, normalized_fragments);
    for (const Fragment& piece : normalized_fragments) {
      if (piece.token != kNoToken) {
        out.push_back(piece.token);
        after_boundary = true;
      } else {
        encode_fragment(piece.text, after_boundary, out);
        after_boundary = false;
      }
    }
  }

  if (options.add_special && flags.add_sep && special.sep != kNoToken) out.push_back(special.sep);
  if (options.add_special && flags.add_eos && special.eos != kNoToken) out.push_back(special.eos);
  return out;
}

void Tokenizer::encode_fragment(std::string_view text, bool after_boundary, std::vector<TokenId>& out) const {
  switch (vocab_.model()) {
    case VocabModel::kBytePairEncoding: {
      std::string prefixed;
      if (pipeline_.add_prefix_space && after_boundary && !text.starts_with(' ')) {
        prefixed.reserve(text.size() + 1);
        prefixed.push_back(' ');
        prefixed.append(text);
        text = prefixed;
      }
      thread_local std::vector<std::string_view> words;
      words.clear();
      models_->pre_tokenizer->split(text, words);
      for (std::string_view word : words) models_->bpe->encode_word(word, out);
      break;
    }
    case VocabModel::kSentencePiece: {
      std::string escaped;
      if (vocab_.flags().add_space_prefix && after_boundary) escaped = "\xE2\x96\x81";
      escaped += escape_spaces(text);
      models_->sentencepiece->encode(escaped, out);
      break;
    }
    case VocabModel::kWordPiece: models_->wordpiece->encode(text, out); break;
  }
}

}  // namespace ferrum::tokenizer
