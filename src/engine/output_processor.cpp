#include "engine/output_processor.h"

namespace ferrum {

OutputProcessor::OutputProcessor(const tokenizer::Vocab* vocab, OutputRules rules)
    : rules_(std::move(rules)), stop_strings_(rules_.stop_strings) {
  if (vocab != nullptr) {
    tokenizer::DecodeOptions options;
    options.render_special = false;
    detokenizer_.emplace(*vocab, options);
    // Generated text continues the prompt: its first piece keeps a leading space.
    detokenizer_->continue_text();
  }
}

Expected<OutputProcessor::Update> OutputProcessor::accept(int32_t token, size_t context_after) {
  Update update;
  if (!rules_.ignore_eos && rules_.stop_tokens.contains(token)) {
    FinishReason reason = FinishReason::kStop;
    update.text = finish(reason);
    update.finish = reason;
    return update;
  }
  update.appended = true;
  ++generated_;
  std::string piece;
  if (detokenizer_) {
    FERRUM_ASSIGN_OR_RETURN(piece, detokenizer_->push(token));
  }
  StopStringMatcher::Result matched = stop_strings_.push(piece);
  update.text = std::move(matched.emit);
  if (matched.stopped) {
    finished_ = true;
    update.finish = FinishReason::kStop;
    return update;
  }
  std::optional<FinishReason> reason;
  if (context_after >= rules_.context_limit) {
    reason = FinishReason::kContextFull;
  } else if (generated_ >= rules_.max_new_tokens) {
    reason = FinishReason::kLength;
  }
  if (reason) {
    update.text += finish(*reason);
    update.finish = reason;
  }
  return update;
}

std::string OutputProcessor::finish(FinishReason& reason) {
  if (finished_) return {};
  finished_ = true;
  StopStringMatcher::Result tail = stop_strings_.push(detokenizer_ ? detokenizer_->finish() : std::string());
  if (tail.stopped) {
    reason = FinishReason::kStop;
    return std::move(tail.emit);
  }
  return tail.emit + stop_strings_.flush();
}

}  // namespace ferrum
