// The request fields /v1/chat/completions and /v1/completions share: sampling (OpenAI's temperature,
// top_p, penalties, seed, logit_bias, plus top_k, min_p, repetition_penalty as vLLM and llama.cpp
// accept them), stop sequences, lengths, n and streaming options. Unset fields take the server's
// defaults (the model's generation_config, then ferrum's).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/sampling.h"
#include "server/json_fields.h"

namespace ferrum::server {

struct GenerationParams {
  SamplingParams sampling;
  std::optional<size_t> max_tokens;  // max_completion_tokens, else max_tokens
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  size_t n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool ignore_eos = false;
};

inline constexpr size_t kMaxChoices = 16;
inline constexpr size_t kMaxStopSequences = 16;
inline constexpr size_t kMaxTopLogprobs = 20;

// `vocab_size` bounds logit_bias and stop_token_ids.
ApiResult<GenerationParams> parse_generation_params(const Json& body, const SamplingParams& defaults,
                                                    size_t vocab_size);

// Fields of the OpenAI API that ferrum does not implement: 400 naming the first one present.
std::optional<ApiError> reject_unsupported_fields(const Json& body, std::initializer_list<const char*> fields);

}  // namespace ferrum::server
