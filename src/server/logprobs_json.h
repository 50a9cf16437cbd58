// Log-probabilities as the two OpenAI APIs print them. Chat: per token {"token", "logprob",
// "bytes", "top_logprobs": [...]}. Completions: parallel lists tokens / token_logprobs /
// top_logprobs ({token: logprob}) / text_offset. Token text is the token's own bytes (special
// tokens rendered), with invalid UTF-8 replaced; "bytes" keeps the exact bytes.
#pragma once

#include <span>
#include <string>

#include "engine/engine.h"
#include "server/json_fields.h"
#include "tokenizer/vocab.h"

namespace ferrum::server {

class LogprobFormatter {
 public:
  explicit LogprobFormatter(const tokenizer::Vocab& vocab) : vocab_(vocab) {}

  std::string token_bytes(int32_t token) const;
  // Chat entries for the tokens of one event, appended to `content` (a JSON array).
  void append_chat(const RequestEvent& event, Json& content) const;
  // Completion lists for the tokens of one event, appended to `logprobs` (an object with the four
  // lists); `text_offset` is the output length before this event's text.
  void append_completion(const RequestEvent& event, size_t text_offset, Json& logprobs) const;

  static Json empty_completion_logprobs();

 private:
  Json chat_entry(const TokenLogprob& entry) const;
  const tokenizer::Vocab& vocab_;
};

}  // namespace ferrum::server
