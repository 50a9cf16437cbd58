#include "engine/generator.h"

#include <algorithm>
#include <unordered_set>

namespace ferrum {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kContextFull: return "context_full";
  }
  return "unknown";
}

Generator::Generator(CausalLm& model, const tokenizer::Tokenizer& tokenizer) : model_(model), tokenizer_(tokenizer) {}

Expected<GenerationResult> Generator::generate(SequenceState& state, const GenerationRequest& request,
                                               const TextCallback& on_text, const std::atomic<bool>* cancel) {
  const size_t vocab_size = model_.info().vocab_size;
  FERRUM_TRY(validate_sampling_params(request.sampling, vocab_size));
  FERRUM_CHECK(!request.prompt.empty(), ErrorCode::kInvalidArgument, "the prompt is empty");
  FERRUM_CHECK(state.length() + request.prompt.size() < state.capacity(), ErrorCode::kLimitExceeded, "the prompt (",
               request.prompt.size(), " tokens after ", state.length(), " in context) does not fit the context of ",
               state.capacity(), " tokens");
  std::vector<uint32_t> prompt;
  prompt.reserve(request.prompt.size());
  for (int32_t token : request.prompt) {
    FERRUM_CHECK(token >= 0 && static_cast<size_t>(token) < vocab_size, ErrorCode::kInvalidArgument, "prompt token ",
                 token, " is outside the vocabulary of ", vocab_size);
    prompt.push_back(static_cast<uint32_t>(token));
  }

  std::unordered_set<int32_t> stop_tokens(request.stop_tokens.begin(), request.stop_tokens.end());
  Sampler sampler(request.sampling);
  StopStringMatcher stop_strings(request.stop_strings);
  tokenizer::DecodeOptions decode_options;
  decode_options.render_special = false;
  tokenizer::StreamingDetokenizer detokenizer(tokenizer_.vocab(), decode_options);
  detokenizer.continue_text();

  GenerationResult result;
  result.prompt_tokens = prompt.size();
  const auto emit = [&](const std::string& text) {
    if (text.empty()) return;
    result.text += text;
    if (on_text) on_text(text);
  };

  const Clock::time_point prefill_start = Clock::now();
  FERRUM_ASSIGN_OR_RETURN(std::span<const float> logits, model_.forward(state, prompt));
  result.prefill_seconds = seconds_since(prefill_start);
  const Clock::time_point decode_start = Clock::now();
  std::vector<float> row;

  bool stopped = false;
  while (!stopped) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      result.finish_reason = FinishReason::kCancelled;
      break;
    }
    if (result.tokens.size() >= request.max_new_tokens) {
      result.finish_reason = FinishReason::kLength;
      break;
    }
    row.assign(logits.begin(), logits.end());
    const int32_t token = sampler.sample(row, {request.prompt, result.tokens});
    if (!request.ignore_eos && stop_tokens.contains(token)) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    result.tokens.push_back(token);
    FERRUM_ASSIGN_OR_RETURN(std::string piece, detokenizer.push(token));
    StopStringMatcher::Result matched = stop_strings.push(piece);
    emit(matched.emit);
    if (matched.stopped) {
      result.finish_reason = FinishReason::kStop;
      stopped = true;
      break;
    }
    if (state.length() + 1 >= state.capacity()) {
      result.finish_reason = FinishReason::kContextFull;
      break;
    }
    const uint32_t next = static_cast<uint32_t>(token);
    FERRUM_ASSIGN_OR_RETURN(logits, model_.forward(state, std::span<const uint32_t>(&next, 1)));
  }
  if (!stopped) {
    StopStringMatcher::Result tail = stop_strings.push(detokenizer.finish());
    emit(tail.emit);
    if (tail.stopped) {
      result.finish_reason = FinishReason::kStop;
    } else {
      emit(stop_strings.flush());
    }
  }
  result.decode_seconds = seconds_since(decode_start);
  return result;
}

}  // namespace ferrum
