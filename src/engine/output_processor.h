// What a sampled token does to a request's visible output, the one set of rules Generator (one
// sequence) and the serving engine (many) share, so a request ends the same way in both:
//   1. a stop token (the model's end-of-generation tokens and the request's own, unless ignore_eos)
//      ends the request and is not part of the output;
//   2. otherwise the token is appended and its text streamed as the detokenizer completes it, with
//      any text that may still become a stop string held back; a completed stop string ends the
//      request, its text cut just before the stop string;
//   3. then the context filling up (kContextFull), then max_new_tokens (kLength);
//   4. a request that ends for any reason but a completed stop string flushes what was held back
//      (which may itself complete a stop string, and then ends with kStop).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "engine/finish_reason.h"
#include "engine/stop_conditions.h"
#include "tokenizer/detokenizer.h"

namespace ferrum {

struct OutputRules {
  std::vector<std::string> stop_strings;
  std::unordered_set<int32_t> stop_tokens;
  bool ignore_eos = false;  // as Generator: no token stops the request
  size_t max_new_tokens = 256;
  size_t context_limit = 0;  // tokens the context holds; the request ends when it is full
};

class OutputProcessor {
 public:
  // `vocab` may be null: no text is produced (token-only requests, tokenizer-less models).
  OutputProcessor(const tokenizer::Vocab* vocab, OutputRules rules);

  // True when the request may not sample another token (max_new_tokens 0 ends it after prefill).
  bool length_reached() const { return generated_ >= rules_.max_new_tokens; }
  size_t generated() const { return generated_; }

  struct Update {
    bool appended = false;  // the token is part of the output
    std::string text;       // newly completed text
    std::optional<FinishReason> finish;
  };
  // A sampled token; `context_after` = tokens the context holds once it is appended.
  Expected<Update> accept(int32_t token, size_t context_after);
  // Ends the request for `reason` (cancellation, a constraint completing, the length limit before
  // sampling): the text held back, and the reason (kStop if that text completes a stop string).
  std::string finish(FinishReason& reason);

 private:
  OutputRules rules_;
  std::optional<tokenizer::StreamingDetokenizer> detokenizer_;
  StopStringMatcher stop_strings_;
  size_t generated_ = 0;
  bool finished_ = false;
};

}  // namespace ferrum
