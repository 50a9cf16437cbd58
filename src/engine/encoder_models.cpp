#include "engine/encoder_models.h"

#include "audio/log_mel.h"
#include "backend/cpu/cpu_backend.h"
#include "models/bert.h"
#include "models/clip.h"
#include "models/model_files.h"
#include "models/pooling.h"
#include "models/whisper.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/loader.h"

namespace ferrum {
namespace {

using B = CpuBackend;

Expected<std::unique_ptr<tokenizer::Tokenizer>> optional_tokenizer(const ModelFiles& files) {
  if (!files.dir.tokenizer) return std::unique_ptr<tokenizer::Tokenizer>();
  return tokenizer::load_tokenizer(*files.dir.tokenizer);
}

Status check_ids(std::span<const int32_t> ids, size_t vocab_size, size_t max_tokens) {
  FERRUM_CHECK(!ids.empty(), ErrorCode::kInvalidArgument, "the input has no tokens");
  FERRUM_CHECK(ids.size() <= max_tokens, ErrorCode::kLimitExceeded, "the input has ", ids.size(),
               " tokens; this model reads at most ", max_tokens);
  for (int32_t id : ids) {
    FERRUM_CHECK(id >= 0 && static_cast<size_t>(id) < vocab_size, ErrorCode::kInvalidArgument, "token id ", id,
                 " is outside the vocabulary of ", vocab_size);
  }
  return ok();
}

class BertEmbedder final : public EmbeddingModel {
 public:
  BertEmbedder(BertModel<B> model, std::unique_ptr<tokenizer::Tokenizer> tokenizer)
      : model_(std::move(model)), tokenizer_(std::move(tokenizer)) {}
  std::string_view architecture() const override { return "bert"; }
  size_t dimensions() const override { return model_.hparams().hidden_size; }
  size_t max_tokens() const override { return model_.hparams().max_positions; }
  size_t vocab_size() const override { return model_.hparams().vocab_size; }
  const tokenizer::Tokenizer* tokenizer() const override { return tokenizer_.get(); }
  std::vector<int32_t> tokenize(std::string_view text) const override {
    return tokenizer_->encode(text, {.add_special = true});
  }
  Expected<std::vector<float>> embed(std::span<const int32_t> ids) override {
    FERRUM_TRY(check_ids(ids, vocab_size(), max_tokens()));
    const std::vector<uint32_t> input(ids.begin(), ids.end());
    std::lock_guard lock(mutex_);
    return model_.embed(ctx_, input);
  }

 private:
  std::mutex mutex_;
  BertModel<B> model_;
  B::Context ctx_ = B::new_context();
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

class ClipTextEmbedder final : public EmbeddingModel {
 public:
  ClipTextEmbedder(ClipModel<B> model, ClipHParams hparams, std::unique_ptr<tokenizer::Tokenizer> tokenizer)
      : model_(std::move(model)), hparams_(hparams), tokenizer_(std::move(tokenizer)) {}
  std::string_view architecture() const override { return "clip"; }
  size_t dimensions() const override { return hparams_.projection_dim; }
  size_t max_tokens() const override { return hparams_.max_text_positions; }
  size_t vocab_size() const override { return hparams_.vocab_size; }
  const tokenizer::Tokenizer* tokenizer() const override { return tokenizer_.get(); }
  std::vector<int32_t> tokenize(std::string_view text) const override {
    return tokenizer_->encode(text, {.add_special = true});
  }
  Expected<std::vector<float>> embed(std::span<const int32_t> ids) override {
    FERRUM_TRY(check_ids(ids, vocab_size(), max_tokens()));
    const std::vector<uint32_t> input(ids.begin(), ids.end());
    std::lock_guard lock(mutex_);
    return model_.text_features(ctx_, input);
  }

 private:
  std::mutex mutex_;
  ClipModel<B> model_;
  ClipHParams hparams_;
  B::Context ctx_ = B::new_context();
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

class DecoderEmbedder final : public EmbeddingModel {
 public:
  DecoderEmbedder(CausalLm& model, const tokenizer::Tokenizer& tokenizer, std::unique_ptr<SequenceState> state,
                  Pooling pooling, bool normalize)
      : model_(model), tokenizer_(tokenizer), state_(std::move(state)), pooling_(pooling), normalize_(normalize) {}
  std::string_view architecture() const override { return model_.info().architecture; }
  size_t dimensions() const override { return model_.info().hidden_size; }
  size_t max_tokens() const override { return model_.info().max_context; }
  size_t vocab_size() const override { return model_.info().vocab_size; }
  const tokenizer::Tokenizer* tokenizer() const override { return &tokenizer_; }
  std::vector<int32_t> tokenize(std::string_view text) const override {
    return tokenizer_.encode(text, {.add_special = true});
  }
  Expected<std::vector<float>> embed(std::span<const int32_t> ids) override {
    FERRUM_TRY(check_ids(ids, vocab_size(), max_tokens()));
    const std::vector<uint32_t> input(ids.begin(), ids.end());
    const size_t width = dimensions();
    std::lock_guard lock(mutex_);
    state_->truncate(0);
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> hidden, model_.hidden_states(*state_, input));
    std::vector<float> pooled = pooling_ == Pooling::kMean
                                    ? mean_pool(hidden, input.size(), width)
                                    : std::vector<float>(hidden.end() - static_cast<ptrdiff_t>(width), hidden.end());
    return normalize_ ? l2_normalize(pooled) : pooled;
  }

 private:
  std::mutex mutex_;
  CausalLm& model_;
  const tokenizer::Tokenizer& tokenizer_;
  std::unique_ptr<SequenceState> state_;
  Pooling pooling_;
  bool normalize_;
};

class WhisperTranscriber final : public SpeechTranscriber {
 public:
  WhisperTranscriber(WhisperModel<B> model, WhisperHParams hparams, WhisperSpecialTokens special,
                     std::unique_ptr<tokenizer::Tokenizer> tokenizer)
      : model_(std::move(model)), hparams_(hparams), special_(std::move(special)), tokenizer_(std::move(tokenizer)) {}

  const tokenizer::Tokenizer* tokenizer() const override { return tokenizer_.get(); }

  Expected<Transcript> transcribe(std::span<const float> samples, const WhisperTranscribeOptions& options) override {
    FERRUM_CHECK(!samples.empty(), ErrorCode::kInvalidArgument, "the audio has no samples");
    constexpr size_t kHop = 160;
    // A chunk is what the encoder holds: 30 s for released checkpoints, less for tiny test models.
    const size_t frames = std::min<size_t>(3000, 2 * hparams_.max_source_positions);
    const size_t chunk_samples = frames * kHop;
    Transcript transcript;
    transcript.duration_seconds = static_cast<double>(samples.size()) / kSampleRate;
    std::lock_guard lock(mutex_);
    for (size_t start = 0; start < samples.size(); start += chunk_samples) {
      const size_t count = std::min(chunk_samples, samples.size() - start);
      FERRUM_ASSIGN_OR_RETURN(
          audio::LogMel mel, audio::whisper_log_mel(samples.subspan(start, count),
                                                    {.n_mels = hparams_.num_mel_bins, .chunk_samples = chunk_samples}));
      FERRUM_ASSIGN_OR_RETURN(WhisperTranscript chunk,
                              whisper_transcribe_chunk(model_, ctx_, mel.values, mel.frames, special_, options));
      transcript.tokens.insert(transcript.tokens.end(), chunk.tokens.begin(), chunk.tokens.end());
      if (transcript.language.empty()) transcript.language = chunk.language;
      if (tokenizer_) {
        const std::vector<tokenizer::TokenId> ids(chunk.tokens.begin(), chunk.tokens.end());
        FERRUM_ASSIGN_OR_RETURN(std::string piece,
                                tokenizer::decode(tokenizer_->vocab(), ids, {.render_special = false}));
        transcript.text += piece;
      }
    }
    const size_t first = transcript.text.find_first_not_of(' ');
    transcript.text.erase(0, first == std::string::npos ? transcript.text.size() : first);
    return transcript;
  }

 private:
  std::mutex mutex_;
  WhisperModel<B> model_;
  WhisperHParams hparams_;
  WhisperSpecialTokens special_;
  B::Context ctx_ = B::new_context();
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

}  // namespace

Expected<std::unique_ptr<EmbeddingModel>> EmbeddingModel::open(std::string_view spec) {
  FERRUM_ASSIGN_OR_RETURN(ModelFiles files, open_model_files(spec));
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tokenizer, optional_tokenizer(files));
  WeightLoader<B> loader(*files.weights, files.loader_options());
  switch (files.config.arch) {
    case ModelArch::kBert: {
      FERRUM_ASSIGN_OR_RETURN(BertHParams hparams, bert_hparams(files.config));
      FERRUM_ASSIGN_OR_RETURN(auto model, BertModel<B>::load(hparams, loader));
      return std::unique_ptr<EmbeddingModel>(new BertEmbedder(std::move(model), std::move(tokenizer)));
    }
    case ModelArch::kClip: {
      FERRUM_ASSIGN_OR_RETURN(ClipHParams hparams, clip_hparams(files.config));
      FERRUM_ASSIGN_OR_RETURN(auto model, ClipModel<B>::load(hparams, loader));
      return std::unique_ptr<EmbeddingModel>(new ClipTextEmbedder(std::move(model), hparams, std::move(tokenizer)));
    }
    default:
      return make_error(ErrorCode::kUnsupported, files.config.architecture,
                        " is not an embedding model (BERT or CLIP)");
  }
}

Expected<std::unique_ptr<EmbeddingModel>> EmbeddingModel::from_decoder(CausalLm& model,
                                                                       const tokenizer::Tokenizer& tokenizer,
                                                                       Pooling pooling, bool normalize) {
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<SequenceState> state, model.new_sequence(model.info().max_context));
  return std::unique_ptr<EmbeddingModel>(new DecoderEmbedder(model, tokenizer, std::move(state), pooling, normalize));
}

Expected<std::unique_ptr<SpeechTranscriber>> SpeechTranscriber::open(std::string_view spec) {
  FERRUM_ASSIGN_OR_RETURN(ModelFiles files, open_model_files(spec));
  FERRUM_CHECK(files.config.arch == ModelArch::kWhisper, ErrorCode::kUnsupported, files.config.architecture,
               " is not a speech model (Whisper)");
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tokenizer, optional_tokenizer(files));
  FERRUM_ASSIGN_OR_RETURN(WhisperHParams hparams, whisper_hparams(files.config));
  FERRUM_ASSIGN_OR_RETURN(WhisperSpecialTokens special,
                          whisper_special_tokens(files.config, files.dir.generation_config));
  WeightLoader<B> loader(*files.weights, files.loader_options());
  FERRUM_ASSIGN_OR_RETURN(auto model, WhisperModel<B>::load(hparams, loader));
  return std::unique_ptr<SpeechTranscriber>(
      new WhisperTranscriber(std::move(model), hparams, std::move(special), std::move(tokenizer)));
}

}  // namespace ferrum
