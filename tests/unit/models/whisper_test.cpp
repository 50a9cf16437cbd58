// Whisper against transformers' WhisperForConditionalGeneration on the hf-tiny fixture: encoder
// output for 100 mel frames, decoder logits (full forward, cached one token at a time, chunked),
// greedy decoding consistent with the reference argmax, and the special-token prompt logic.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "backend/cpu/cpu_backend.h"
#include "formats/hf_config.h"
#include "models/safetensors_source.h"
#include "models/whisper.h"
#include "models/whisper_transcribe.h"
#include "reference_fixture.h"

namespace ferrum {
namespace {

using testing::hf_tiny_dir;
using testing::max_abs_difference;

constexpr double kTolerance = 1e-4;
constexpr size_t kFrames = 100;

struct LoadedWhisper {
  std::unique_ptr<SafetensorsSource> source;
  std::optional<WhisperModel<CpuBackend>> model;
  std::optional<ModelConfig> config;
};

LoadedWhisper load_whisper() {
  LoadedWhisper loaded;
  auto config = load_hf_config(hf_tiny_dir("whisper") / "config.json");
  EXPECT_TRUE(config) << config.error().to_string();
  if (!config) return loaded;
  loaded.config = *config;
  auto hparams = whisper_hparams(*config);
  EXPECT_TRUE(hparams) << hparams.error().to_string();
  auto source = SafetensorsSource::open(hf_tiny_dir("whisper") / "model.safetensors");
  EXPECT_TRUE(source) << source.error().to_string();
  if (!hparams || !source) return loaded;
  loaded.source = std::move(*source);
  WeightLoader<CpuBackend> loader(*loaded.source, {});
  auto model = WhisperModel<CpuBackend>::load(*hparams, loader);
  EXPECT_TRUE(model) << model.error().to_string();
  if (model) loaded.model.emplace(std::move(*model));
  return loaded;
}

// The encoded fixture features, ready for decoding.
struct Encoded {
  CpuBuffer output;
  size_t length = 0;
};

Encoded encode_fixture(WhisperModel<CpuBackend>& model, CpuContext& ctx) {
  Encoded encoded;
  auto features = testing::reference_tensor("whisper", "input_features");
  EXPECT_TRUE(features);
  if (!features) return encoded;
  encoded.length = WhisperHParams::encoder_length(kFrames);
  auto out = CpuBackend::alloc(encoded.length * model.hparams().d_model, DType::kF32);
  EXPECT_TRUE(out);
  Status status = model.encode(ctx, *features, kFrames, *out);
  EXPECT_TRUE(status) << status.error().to_string();
  encoded.output = std::move(*out);
  return encoded;
}

std::vector<float> logits_row(const std::vector<float>& logits, size_t row, size_t vocab) {
  return std::vector<float>(logits.begin() + static_cast<ptrdiff_t>(row * vocab),
                            logits.begin() + static_cast<ptrdiff_t>((row + 1) * vocab));
}

uint32_t argmax(const std::vector<float>& row) {
  return static_cast<uint32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

class Whisper : public ::testing::Test {
 protected:
  void SetUp() override {
    loaded_ = load_whisper();
    ASSERT_TRUE(loaded_.model);
    encoded_ = encode_fixture(*loaded_.model, ctx_);
    auto ids = testing::reference_ids("whisper", "decoder_input_ids");
    auto logits = testing::reference_tensor("whisper", "logits");
    ASSERT_TRUE(ids && logits);
    ids_ = *ids;
    reference_logits_ = *logits;
    vocab_ = loaded_.model->hparams().vocab_size;
  }

  WhisperModel<CpuBackend>& model() { return *loaded_.model; }
  WhisperDecoderState<CpuBackend> new_state() {
    auto state = model().start_decoding(ctx_, encoded_.output, encoded_.length);
    EXPECT_TRUE(state) << state.error().to_string();
    return std::move(*state);
  }

  LoadedWhisper loaded_;
  CpuContext ctx_ = CpuBackend::new_context();
  Encoded encoded_;
  std::vector<uint32_t> ids_;
  std::vector<float> reference_logits_;
  size_t vocab_ = 0;
};

TEST_F(Whisper, EncoderOutputMatchesTransformers) {
  auto expected = testing::reference_tensor("whisper", "encoder_last_hidden_state");
  ASSERT_TRUE(expected);
  const size_t d = model().hparams().d_model;
  ASSERT_EQ(encoded_.length * d, expected->size());
  auto actual = CpuBackend::to_vec(encoded_.output, expected->size());
  ASSERT_TRUE(actual);
  const auto difference = max_abs_difference(*actual, *expected);
  std::printf("whisper encoder: max |hidden - reference| = %.3g at position %zu\n", difference.max_abs,
              difference.worst_index / d);
  EXPECT_LT(difference.max_abs, kTolerance);
}

TEST_F(Whisper, FullDecoderForwardMatchesTransformers) {
  auto state = new_state();
  auto logits = CpuBackend::alloc(ids_.size() * vocab_, DType::kF32);
  ASSERT_TRUE(logits);
  Status status = model().decode(ctx_, ids_, state, *logits, /*all_logits=*/true);
  ASSERT_TRUE(status) << status.error().to_string();
  auto actual = CpuBackend::to_vec(*logits, ids_.size() * vocab_);
  ASSERT_TRUE(actual);
  const auto difference = max_abs_difference(*actual, reference_logits_);
  std::printf("whisper decoder full forward: max |logit - reference| = %.3g at token %zu\n", difference.max_abs,
              difference.worst_index / vocab_);
  EXPECT_LT(difference.max_abs, kTolerance);
}

// One token at a time through the KV cache must give the full forward's logits, and so must
// uneven chunks.
TEST_F(Whisper, CachedDecodeMatchesFullForward) {
  auto full_state = new_state();
  auto full = CpuBackend::alloc(ids_.size() * vocab_, DType::kF32);
  ASSERT_TRUE(full);
  ASSERT_TRUE(model().decode(ctx_, ids_, full_state, *full, true));
  auto full_logits = CpuBackend::to_vec(*full, ids_.size() * vocab_);
  ASSERT_TRUE(full_logits);

  auto state = new_state();
  auto step = CpuBackend::alloc(vocab_, DType::kF32);
  ASSERT_TRUE(step);
  double worst_vs_full = 0, worst_vs_reference = 0;
  for (size_t t = 0; t < ids_.size(); ++t) {
    ASSERT_TRUE(model().decode(ctx_, std::span(ids_).subspan(t, 1), state, *step, false));
    auto row = CpuBackend::to_vec(*step, vocab_);
    ASSERT_TRUE(row);
    worst_vs_full = std::max(worst_vs_full, max_abs_difference(*row, logits_row(*full_logits, t, vocab_)).max_abs);
    worst_vs_reference =
        std::max(worst_vs_reference, max_abs_difference(*row, logits_row(reference_logits_, t, vocab_)).max_abs);
  }
  std::printf("whisper cached decode: max |logit - full forward| = %.3g, |logit - reference| = %.3g\n", worst_vs_full,
              worst_vs_reference);
  EXPECT_LT(worst_vs_full, 1e-5);
  EXPECT_LT(worst_vs_reference, kTolerance);

  // A prompt of 4, then the remaining 6 at once.
  auto chunked_state = new_state();
  auto rest = CpuBackend::alloc(6 * vocab_, DType::kF32);
  ASSERT_TRUE(rest);
  ASSERT_TRUE(model().decode(ctx_, std::span(ids_).first(4), chunked_state, *step, false));
  ASSERT_TRUE(model().decode(ctx_, std::span(ids_).subspan(4), chunked_state, *rest, true));
  auto rest_logits = CpuBackend::to_vec(*rest, 6 * vocab_);
  ASSERT_TRUE(rest_logits);
  const std::vector<float> reference_rest(reference_logits_.begin() + static_cast<ptrdiff_t>(4 * vocab_),
                                          reference_logits_.end());
  EXPECT_LT(max_abs_difference(*rest_logits, reference_rest).max_abs, kTolerance);
}

// Greedy decoding after each prefix of the reference ids picks the reference logits' argmax.
TEST_F(Whisper, GreedyNextTokenIsReferenceArgmax) {
  std::vector<uint32_t> picked, expected;
  for (size_t t = 1; t <= ids_.size(); ++t) {
    auto state = new_state();
    WhisperGreedyOptions options;
    options.max_new_tokens = 1;
    auto generated = whisper_greedy_decode(model(), ctx_, state, std::span(ids_).first(t), options);
    ASSERT_TRUE(generated) << generated.error().to_string();
    ASSERT_EQ(generated->size(), 1u);
    picked.push_back(generated->front());
    expected.push_back(argmax(logits_row(reference_logits_, t - 1, vocab_)));
  }
  EXPECT_EQ(picked, expected);
}

// A greedy run with the cache produces the tokens a full recompute picks at every step, and
// suppressing a token removes it from the output.
TEST_F(Whisper, GreedyWithCacheMatchesFullRecompute) {
  const std::vector<uint32_t> prompt = {1};
  auto state = new_state();
  WhisperGreedyOptions options;
  options.max_new_tokens = 12;
  auto generated = whisper_greedy_decode(model(), ctx_, state, prompt, options);
  ASSERT_TRUE(generated) << generated.error().to_string();
  ASSERT_EQ(generated->size(), 12u);
  std::vector<uint32_t> sequence = prompt;
  auto logits = CpuBackend::alloc(vocab_, DType::kF32);
  ASSERT_TRUE(logits);
  for (uint32_t token : *generated) {
    auto fresh = new_state();
    ASSERT_TRUE(model().decode(ctx_, sequence, fresh, *logits, false));
    auto row = CpuBackend::to_vec(*logits, vocab_);
    ASSERT_TRUE(row);
    EXPECT_EQ(argmax(*row), token);
    sequence.push_back(token);
  }
  std::printf("whisper greedy from <|startoftranscript|>:");
  for (uint32_t token : *generated) std::printf(" %u", token);
  std::printf("\n");

  const std::vector<uint32_t> suppressed = {(*generated)[0]};
  auto other_state = new_state();
  options.suppress_tokens = suppressed;
  auto without = whisper_greedy_decode(model(), ctx_, other_state, prompt, options);
  ASSERT_TRUE(without);
  EXPECT_EQ(std::count(without->begin(), without->end(), suppressed[0]), 0);
}

TEST_F(Whisper, GreedyStopsAtEndTokenAndAtMaxTargetPositions) {
  auto state = new_state();
  WhisperGreedyOptions options;
  auto first = whisper_greedy_decode(model(), ctx_, state, std::vector<uint32_t>{1}, options);
  ASSERT_TRUE(first);
  // No end token: the sequence fills the 64 decoder positions exactly.
  EXPECT_EQ(first->size() + 1, model().hparams().max_target_positions);

  auto stop_state = new_state();
  options.end_token = (*first)[2];
  auto stopped = whisper_greedy_decode(model(), ctx_, stop_state, std::vector<uint32_t>{1}, options);
  ASSERT_TRUE(stopped);
  const size_t first_end =
      static_cast<size_t>(std::find(first->begin(), first->end(), *options.end_token) - first->begin());
  EXPECT_EQ(*stopped, std::vector<uint32_t>(first->begin(), first->begin() + static_cast<ptrdiff_t>(first_end)));
}

TEST_F(Whisper, TranscribeChunkUsesConfigSpecialTokens) {
  auto special = whisper_special_tokens(*loaded_.config, std::nullopt);
  ASSERT_TRUE(special) << special.error().to_string();
  EXPECT_EQ(special->start_of_transcript, 1u);
  EXPECT_EQ(special->end_of_text, 2u);
  auto features = testing::reference_tensor("whisper", "input_features");
  ASSERT_TRUE(features);
  WhisperTranscribeOptions options;
  options.max_new_tokens = 8;
  auto transcript = whisper_transcribe_chunk(model(), ctx_, *features, kFrames, *special, options);
  ASSERT_TRUE(transcript) << transcript.error().to_string();
  EXPECT_EQ(transcript->prompt, std::vector<uint32_t>{1});
  EXPECT_TRUE(transcript->language.empty());

  auto state = new_state();
  WhisperGreedyOptions greedy;
  greedy.end_token = 2;
  greedy.max_new_tokens = 8;
  auto direct = whisper_greedy_decode(model(), ctx_, state, std::vector<uint32_t>{1}, greedy);
  ASSERT_TRUE(direct);
  EXPECT_EQ(transcript->tokens, *direct);
}

TEST_F(Whisper, RejectsBadInputs) {
  const size_t mels = model().hparams().num_mel_bins;
  auto big = CpuBackend::alloc(2000 * 64, DType::kF32);
  ASSERT_TRUE(big);
  // 3000 frames (a real 30 s chunk) need 1500 positions; this model has 50.
  Status too_long = model().encode(ctx_, std::vector<float>(mels * 3000), 3000, *big);
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(model().encode(ctx_, std::vector<float>(mels * 10 - 1), 10, *big).error().code(),
            ErrorCode::kShapeMismatch);

  auto state = new_state();
  auto logits = CpuBackend::alloc(vocab_, DType::kF32);
  ASSERT_TRUE(logits);
  EXPECT_EQ(model().decode(ctx_, std::vector<uint32_t>(65, 3), state, *logits, false).error().code(),
            ErrorCode::kLimitExceeded);
  EXPECT_EQ(model().decode(ctx_, std::vector<uint32_t>{512}, state, *logits, false).error().code(),
            ErrorCode::kInvalidArgument);
  WhisperDecoderState<CpuBackend> not_started;
  EXPECT_FALSE(model().decode(ctx_, std::vector<uint32_t>{1}, not_started, *logits, false));
}

// Prompts from a multilingual and an English-only generation_config.json.
TEST(WhisperSpecialTokens, PromptsFollowGenerationConfig) {
  auto config = load_hf_config(hf_tiny_dir("whisper") / "config.json");
  ASSERT_TRUE(config);
  const auto dir = std::filesystem::temp_directory_path() / "ferrum_whisper_generation_test";
  std::filesystem::create_directories(dir);
  const auto path = dir / "generation_config.json";
  std::ofstream(path) << R"({"decoder_start_token_id": 50258, "eos_token_id": 50257,
    "no_timestamps_token_id": 50363, "is_multilingual": true,
    "lang_to_id": {"<|en|>": 50259, "<|de|>": 50261},
    "task_to_id": {"transcribe": 50359, "translate": 50358},
    "suppress_tokens": [1, 2, 7], "begin_suppress_tokens": [220, 50257]})";
  auto special = whisper_special_tokens(*config, path);
  ASSERT_TRUE(special) << special.error().to_string();
  EXPECT_EQ(special->suppress_tokens, (std::vector<uint32_t>{1, 2, 7}));
  EXPECT_EQ(special->begin_suppress_tokens, (std::vector<uint32_t>{220, 50257}));
  EXPECT_EQ(*whisper_prompt(*special, "en", "transcribe"), (std::vector<uint32_t>{50258, 50259, 50359, 50363}));
  EXPECT_EQ(*whisper_prompt(*special, "<|de|>", "translate"), (std::vector<uint32_t>{50258, 50261, 50358, 50363}));
  EXPECT_FALSE(whisper_prompt(*special, "xx", "transcribe"));
  EXPECT_FALSE(whisper_prompt(*special, "en", "summarize"));

  std::ofstream(path) << R"({"decoder_start_token_id": 50257, "eos_token_id": 50256,
    "no_timestamps_token_id": 50362, "is_multilingual": false})";
  auto english = whisper_special_tokens(*config, path);
  ASSERT_TRUE(english) << english.error().to_string();
  EXPECT_EQ(*whisper_prompt(*english, "", "transcribe"), (std::vector<uint32_t>{50257, 50362}));
  auto translate = whisper_prompt(*english, "", "translate");
  ASSERT_FALSE(translate);
  EXPECT_EQ(translate.error().code(), ErrorCode::kUnsupported);

  std::ofstream(path) << "{ not json";
  EXPECT_FALSE(whisper_special_tokens(*config, path));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ferrum
