// Greedy transcription with Whisper's special tokens, as transformers' generate() does it for one
// 30 s chunk without timestamps:
//   prompt   <|startoftranscript|> [<|lang|> <|transcribe|> or <|translate|>] [<|notimestamps|>]
//            (multilingual models get the language and task; English-only models neither)
//   language when not given, the language token the decoder ranks highest after
//            <|startoftranscript|> alone (multilingual models)
//   each step   suppress_tokens can never be chosen, begin_suppress_tokens not as the first
//            generated token; argmax; stop at <|endoftext|> or when the decoder's positions run out.
// The special ids come from generation_config.json (where Whisper checkpoints keep them), else
// config.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "formats/model_config.h"
#include "models/whisper.h"

namespace ferrum {

struct WhisperSpecialTokens {
  uint32_t start_of_transcript = 0;  // decoder_start_token_id
  uint32_t end_of_text = 0;          // eos_token_id
  std::optional<uint32_t> transcribe, translate, no_timestamps;
  std::vector<std::pair<std::string, uint32_t>> languages;  // ("en", id of <|en|>); empty: English-only
  std::vector<uint32_t> suppress_tokens;
  std::vector<uint32_t> begin_suppress_tokens;
};

// From config.json's parsed ids and, when given, generation_config.json, which overrides them.
Expected<WhisperSpecialTokens> whisper_special_tokens(const ModelConfig& config,
                                                      const std::optional<std::filesystem::path>& generation_config);

struct WhisperGreedyOptions {
  std::span<const uint32_t> suppress_tokens;        // never chosen
  std::span<const uint32_t> begin_suppress_tokens;  // not chosen as the first generated token
  std::optional<uint32_t> end_token;                // stops decoding; not part of the result
  size_t max_new_tokens = SIZE_MAX;                 // also bounded by max_target_positions
};

// Feeds `prompt` after the state's cached tokens, then appends argmax tokens one at a time (each
// decoded with the KV cache) until end_token or a limit. Returns the generated ids.
template <Backend B>
Expected<std::vector<uint32_t>> whisper_greedy_decode(WhisperModel<B>& model, typename B::Context& ctx,
                                                      WhisperDecoderState<B>& state, std::span<const uint32_t> prompt,
                                                      const WhisperGreedyOptions& options);

struct WhisperTranscribeOptions {
  std::string language;             // "en" or "<|en|>"; empty: detect (multilingual models)
  std::string task = "transcribe";  // or "translate" (multilingual models)
  size_t max_new_tokens = SIZE_MAX;
};

struct WhisperTranscript {
  std::vector<uint32_t> prompt;
  std::vector<uint32_t> tokens;  // generated, without <|endoftext|>
  std::string language;          // as chosen or detected ("en"); empty for English-only models
};

// The decoder prompt for `language` (already resolved; empty for English-only models) and `task`.
Expected<std::vector<uint32_t>> whisper_prompt(const WhisperSpecialTokens& special, std::string_view language,
                                               std::string_view task);

// Encodes one chunk of features mel [num_mel_bins, frames] and decodes it greedily.
template <Backend B>
Expected<WhisperTranscript> whisper_transcribe_chunk(WhisperModel<B>& model, typename B::Context& ctx,
                                                     std::span<const float> mel, size_t frames,
                                                     const WhisperSpecialTokens& special,
                                                     const WhisperTranscribeOptions& options);

}  // namespace ferrum
