#include "engine/generator.h"

#include <algorithm>

#include "engine/output_processor.h"

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

  OutputRules rules;
  rules.stop_strings = request.stop_strings;
  rules.stop_tokens.insert(request.stop_tokens.begin(), request.stop_tokens.end());
  rules.ignore_eos = request.ignore_eos;
  rules.max_new_tokens = request.max_new_tokens;
  rules.context_limit = state.capacity();
  OutputProcessor output(&tokenizer_.vocab(), std::move(rules));
  Sampler sampler(request.sampling);

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

  while (true) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      result.finish_reason = FinishReason::kCancelled;
      emit(output.finish(result.finish_reason));
      break;
    }
    if (output.length_reached()) {
      result.finish_reason = FinishReason::kLength;
      emit(output.finish(result.finish_reason));
      break;
    }
    row.assign(logits.begin(), logits.end());
    const int32_t token = sampler.sample(row, {request.prompt, result.tokens});
    // The new token would take the context's next row.
    FERRUM_ASSIGN_OR_RETURN(OutputProcessor::Update update, output.accept(token, state.length() + 1));
    if (update.appended) result.tokens.push_back(token);
    emit(update.text);
    if (update.finish) {
      result.finish_reason = *update.finish;
      break;
    }
    const uint32_t next = static_cast<uint32_t>(token);
    FERRUM_ASSIGN_OR_RETURN(logits, model_.forward(state, std::span<const uint32_t>(&next, 1)));
  }
  result.decode_seconds = seconds_since(decode_start);
  return result;
}

}  // namespace ferrum
