#include "models/whisper_transcribe.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "formats/json_fields.h"
#include "formats/json_file.h"

namespace ferrum {
namespace {

Expected<uint32_t> token_id(int64_t value, std::string_view what) {
  FERRUM_CHECK(value >= 0 && value <= static_cast<int64_t>(UINT32_MAX), ErrorCode::kInvalidArgument, "whisper: ", what,
               " ", value, " is not a token id");
  return static_cast<uint32_t>(value);
}

Expected<std::vector<uint32_t>> token_ids(const std::vector<int64_t>& values, std::string_view what) {
  std::vector<uint32_t> ids;
  for (int64_t value : values) {
    FERRUM_ASSIGN_OR_RETURN(uint32_t id, token_id(value, what));
    ids.push_back(id);
  }
  return ids;
}

// "<|en|>" -> "en"; other spellings are kept as they are.
std::string bare_language(std::string_view token) {
  if (token.size() > 4 && token.starts_with("<|") && token.ends_with("|>")) {
    return std::string(token.substr(2, token.size() - 4));
  }
  return std::string(token);
}

// Reads generation_config.json's fields over `tokens`.
Status read_generation_config(const std::filesystem::path& path, WhisperSpecialTokens& tokens) {
  FERRUM_ASSIGN_OR_RETURN(const nlohmann::json json, read_json_file(path));
  FERRUM_CHECK(json.is_object(), ErrorCode::kParse, path.string(), ": not a JSON object");
  JsonFields f(json, path.string());
  if (auto start = f.optional_int("decoder_start_token_id")) {
    FERRUM_ASSIGN_OR_RETURN(tokens.start_of_transcript, token_id(*start, "decoder_start_token_id"));
  }
  const std::vector<int64_t> eos = f.int_or_int_list("eos_token_id");
  if (!eos.empty()) {
    FERRUM_ASSIGN_OR_RETURN(tokens.end_of_text, token_id(eos.front(), "eos_token_id"));
  }
  if (auto no_timestamps = f.optional_int("no_timestamps_token_id")) {
    FERRUM_ASSIGN_OR_RETURN(tokens.no_timestamps, token_id(*no_timestamps, "no_timestamps_token_id"));
  }
  if (f.has("suppress_tokens")) {
    FERRUM_ASSIGN_OR_RETURN(tokens.suppress_tokens, token_ids(f.int_list("suppress_tokens"), "suppress_tokens"));
  }
  if (f.has("begin_suppress_tokens")) {
    FERRUM_ASSIGN_OR_RETURN(tokens.begin_suppress_tokens,
                            token_ids(f.int_list("begin_suppress_tokens"), "begin_suppress_tokens"));
  }
  JsonFields tasks = f.object("task_to_id");
  if (auto id = tasks.optional_int("transcribe")) {
    FERRUM_ASSIGN_OR_RETURN(tokens.transcribe, token_id(*id, "task_to_id.transcribe"));
  }
  if (auto id = tasks.optional_int("translate")) {
    FERRUM_ASSIGN_OR_RETURN(tokens.translate, token_id(*id, "task_to_id.translate"));
  }
  f.absorb(tasks);
  if (const nlohmann::json* languages = f.get("lang_to_id")) {
    FERRUM_CHECK(languages->is_object(), ErrorCode::kParse, path.string(), ": lang_to_id is not an object");
    for (const auto& [name, id] : languages->items()) {
      FERRUM_CHECK(id.is_number_integer(), ErrorCode::kParse, path.string(), ": lang_to_id[\"", name,
                   "\"] is not an integer");
      FERRUM_ASSIGN_OR_RETURN(uint32_t language_id, token_id(id.get<int64_t>(), "language id"));
      tokens.languages.emplace_back(bare_language(name), language_id);
    }
  }
  // English-only checkpoints say so; their lang_to_id (if any) must not be used.
  if (!f.bool_or("is_multilingual", !tokens.languages.empty())) tokens.languages.clear();
  return f.status();
}

}  // namespace

Expected<WhisperSpecialTokens> whisper_special_tokens(const ModelConfig& config,
                                                      const std::optional<std::filesystem::path>& generation_config) {
  const WhisperConfig* whisper = config.whisper();
  FERRUM_CHECK(whisper != nullptr, ErrorCode::kUnsupported, config.architecture, " is not Whisper");
  WhisperSpecialTokens tokens;
  if (config.tokens.decoder_start) {
    FERRUM_ASSIGN_OR_RETURN(tokens.start_of_transcript,
                            token_id(*config.tokens.decoder_start, "decoder_start_token_id"));
  }
  if (!config.tokens.eos.empty()) {
    FERRUM_ASSIGN_OR_RETURN(tokens.end_of_text, token_id(config.tokens.eos.front(), "eos_token_id"));
  }
  FERRUM_ASSIGN_OR_RETURN(tokens.suppress_tokens, token_ids(whisper->suppress_tokens, "suppress_tokens"));
  FERRUM_ASSIGN_OR_RETURN(tokens.begin_suppress_tokens,
                          token_ids(whisper->begin_suppress_tokens, "begin_suppress_tokens"));
  if (generation_config) FERRUM_TRY(read_generation_config(*generation_config, tokens));
  FERRUM_CHECK(config.tokens.decoder_start || generation_config, ErrorCode::kNotFound, config.architecture,
               ": neither config.json nor a generation_config.json gives decoder_start_token_id");
  return tokens;
}

Expected<std::vector<uint32_t>> whisper_prompt(const WhisperSpecialTokens& special, std::string_view language,
                                               std::string_view task) {
  std::vector<uint32_t> prompt = {special.start_of_transcript};
  if (!special.languages.empty()) {
    const std::string wanted = bare_language(language);
    const auto entry = std::find_if(special.languages.begin(), special.languages.end(),
                                    [&](const auto& known) { return known.first == wanted; });
    FERRUM_CHECK(entry != special.languages.end(), ErrorCode::kInvalidArgument, "whisper: language \"", language,
                 "\" is not one of this model's ", special.languages.size(), " languages");
    prompt.push_back(entry->second);
    const std::optional<uint32_t>& task_token = task == "translate" ? special.translate : special.transcribe;
    FERRUM_CHECK(task == "transcribe" || task == "translate", ErrorCode::kInvalidArgument, "whisper: task \"", task,
                 "\" is neither transcribe nor translate");
    FERRUM_CHECK(task_token.has_value(), ErrorCode::kUnsupported, "whisper: this model has no token for task ", task);
    prompt.push_back(*task_token);
  } else {
    FERRUM_CHECK(task == "transcribe", ErrorCode::kUnsupported, "whisper: task \"", task,
                 "\" needs a multilingual model; this one only transcribes English");
  }
  if (special.no_timestamps) prompt.push_back(*special.no_timestamps);
  return prompt;
}

template <Backend B>
Expected<std::vector<uint32_t>> whisper_greedy_decode(WhisperModel<B>& model, typename B::Context& ctx,
                                                      WhisperDecoderState<B>& state, std::span<const uint32_t> prompt,
                                                      const WhisperGreedyOptions& options) {
  const size_t vocab = model.hparams().vocab_size;
  FERRUM_CHECK(!prompt.empty(), ErrorCode::kInvalidArgument, "whisper: empty decoder prompt");
  FERRUM_ASSIGN_OR_RETURN(typename B::Buffer logits, B::alloc(vocab, DType::kF32));
  FERRUM_TRY(model.decode(ctx, prompt, state, logits, /*all_logits=*/false));
  const size_t capacity = state.self_attention.capacity;
  std::vector<uint32_t> generated;
  while (generated.size() < options.max_new_tokens) {
    FERRUM_TRY(B::sync(ctx));
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> row, B::to_vec(logits, vocab));
    for (uint32_t id : options.suppress_tokens) {
      if (id < vocab) row[id] = -INFINITY;
    }
    if (generated.empty()) {
      for (uint32_t id : options.begin_suppress_tokens) {
        if (id < vocab) row[id] = -INFINITY;
      }
    }
    const uint32_t next = static_cast<uint32_t>(std::max_element(row.begin(), row.end()) - row.begin());
    if (options.end_token && next == *options.end_token) break;
    generated.push_back(next);
    // The sequence now holds state.length() + 1 tokens and may not outgrow the decoder's positions
    // (transformers' max_length).
    if (state.length() + 1 >= capacity || generated.size() >= options.max_new_tokens) break;
    FERRUM_TRY(model.decode(ctx, std::span(&next, 1), state, logits, /*all_logits=*/false));
  }
  return generated;
}

template <Backend B>
Expected<WhisperTranscript> whisper_transcribe_chunk(WhisperModel<B>& model, typename B::Context& ctx,
                                                     std::span<const float> mel, size_t frames,
                                                     const WhisperSpecialTokens& special,
                                                     const WhisperTranscribeOptions& options) {
  const WhisperHParams& hp = model.hparams();
  const size_t length = WhisperHParams::encoder_length(frames);
  FERRUM_ASSIGN_OR_RETURN(typename B::Buffer encoded, B::alloc(length * hp.d_model, B::kActivationDType));
  FERRUM_TRY(model.encode(ctx, mel, frames, encoded));
  FERRUM_ASSIGN_OR_RETURN(WhisperDecoderState<B> state, model.start_decoding(ctx, encoded, length));

  WhisperTranscript transcript;
  transcript.language = bare_language(options.language);
  if (!special.languages.empty() && transcript.language.empty()) {
    // Language detection: the language token ranked highest after <|startoftranscript|>.
    FERRUM_ASSIGN_OR_RETURN(typename B::Buffer logits, B::alloc(hp.vocab_size, DType::kF32));
    const uint32_t start = special.start_of_transcript;
    FERRUM_TRY(model.decode(ctx, std::span(&start, 1), state, logits, /*all_logits=*/false));
    FERRUM_TRY(B::sync(ctx));
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> row, B::to_vec(logits, hp.vocab_size));
    const std::pair<std::string, uint32_t>* best = nullptr;
    for (const auto& language : special.languages) {
      if (language.second < hp.vocab_size && (best == nullptr || row[language.second] > row[best->second])) {
        best = &language;
      }
    }
    FERRUM_CHECK(best != nullptr, ErrorCode::kInvalidArgument, "whisper: no language token is inside the vocabulary");
    transcript.language = best->first;
    state.truncate(0);
  }
  FERRUM_ASSIGN_OR_RETURN(transcript.prompt, whisper_prompt(special, transcript.language, options.task));
  WhisperGreedyOptions greedy;
  greedy.suppress_tokens = special.suppress_tokens;
  greedy.begin_suppress_tokens = special.begin_suppress_tokens;
  greedy.end_token = special.end_of_text;
  greedy.max_new_tokens = options.max_new_tokens;
  FERRUM_ASSIGN_OR_RETURN(transcript.tokens, whisper_greedy_decode(model, ctx, state, transcript.prompt, greedy));
  return transcript;
}

template Expected<std::vector<uint32_t>> whisper_greedy_decode<CpuBackend>(WhisperModel<CpuBackend>&, CpuContext&,
                                                                           WhisperDecoderState<CpuBackend>&,
                                                                           std::span<const uint32_t>,
                                                                           const WhisperGreedyOptions&);
template Expected<WhisperTranscript> whisper_transcribe_chunk<CpuBackend>(WhisperModel<CpuBackend>&, CpuContext&,
                                                                          std::span<const float>, size_t,
                                                                          const WhisperSpecialTokens&,
                                                                          const WhisperTranscribeOptions&);

}  // namespace ferrum
