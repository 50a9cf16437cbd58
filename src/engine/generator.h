// Generation for one sequence at a time: prefill the prompt, then sample and feed back one token
// per step until a stop condition, streaming text as it completes. `ferrum run` uses it directly;
// the serving engine batches many sequences with the same sampler and stop rules.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/finish_reason.h"
#include "engine/sampling.h"
#include "engine/stop_conditions.h"
#include "models/causal_lm.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace ferrum {

struct GenerationRequest {
  std::vector<int32_t> prompt;
  size_t max_new_tokens = 256;
  SamplingParams sampling;
  std::vector<std::string> stop_strings;
  std::vector<int32_t> stop_tokens;  // besides the vocabulary's EOS / EOT tokens
  bool ignore_eos = false;
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated tokens, stop token excluded
  std::string text;             // their text, stop string excluded
  FinishReason finish_reason = FinishReason::kLength;
  size_t prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;  // from the first generated token to the last
};

// Called with each newly completed piece of text.
using TextCallback = std::function<void(std::string_view)>;

class Generator {
 public:
  Generator(CausalLm& model, const tokenizer::Tokenizer& tokenizer);

  // Runs `request` on `state` (which may already hold earlier turns of a conversation: the prompt
  // is appended to it). `cancel` is polled between steps.
  Expected<GenerationResult> generate(SequenceState& state, const GenerationRequest& request,
                                      const TextCallback& on_text, const std::atomic<bool>* cancel = nullptr);

 private:
  CausalLm& model_;
  const tokenizer::Tokenizer& tokenizer_;
};

}  // namespace ferrum
