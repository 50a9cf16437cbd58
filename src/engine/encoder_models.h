// The non-generative models `serve` runs, behind small interfaces so the server never touches model
// code: sentence embeddings (BERT: mean-pooled and L2-normalised; CLIP: the projected text
// features) and Whisper speech transcription. Each model runs one request at a time on the CPU
// backend (a mutex serializes callers); their tokenizer is the checkpoint's tokenizer.json when it
// ships one.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/causal_lm.h"
#include "models/whisper_transcribe.h"
#include "tokenizer/tokenizer.h"

namespace ferrum {

// How a decoder's hidden states become one vector: the last token's (models trained for it, such
// as Qwen3-Embedding, read the whole input there) or the mean over all tokens.
enum class Pooling { kLast, kMean };

class EmbeddingModel {
 public:
  virtual ~EmbeddingModel() = default;
  // A BERT or CLIP checkpoint (directory or org/name); other architectures are kUnsupported.
  static Expected<std::unique_ptr<EmbeddingModel>> open(std::string_view spec);
  // A decoder's final-normed hidden states pooled, L2-normalised when `normalize`. The model and
  // tokenizer must outlive the embedder, which becomes the model's only user.
  static Expected<std::unique_ptr<EmbeddingModel>> from_decoder(CausalLm& model, const tokenizer::Tokenizer& tokenizer,
                                                                Pooling pooling, bool normalize);

  virtual std::string_view architecture() const = 0;
  virtual size_t dimensions() const = 0;
  virtual size_t max_tokens() const = 0;
  virtual size_t vocab_size() const = 0;
  // nullptr when the checkpoint has no tokenizer.json (then only token-id inputs work).
  virtual const tokenizer::Tokenizer* tokenizer() const = 0;
  // Text -> ids with the special tokens the model's post-processor adds ([CLS] ... [SEP]).
  virtual std::vector<int32_t> tokenize(std::string_view text) const = 0;
  virtual Expected<std::vector<float>> embed(std::span<const int32_t> ids) = 0;
};

struct Transcript {
  std::string text;
  std::vector<uint32_t> tokens;
  std::string language;
  double duration_seconds = 0;
};

class SpeechTranscriber {
 public:
  virtual ~SpeechTranscriber() = default;
  // A Whisper checkpoint (directory or org/name).
  static Expected<std::unique_ptr<SpeechTranscriber>> open(std::string_view spec);

  virtual const tokenizer::Tokenizer* tokenizer() const = 0;
  // Mono samples at 16 kHz, cut into 30 s chunks and decoded greedily. Without a tokenizer the
  // transcript has tokens and no text.
  virtual Expected<Transcript> transcribe(std::span<const float> samples, const WhisperTranscribeOptions& options) = 0;

  static constexpr size_t kSampleRate = 16000;
};

}  // namespace ferrum
