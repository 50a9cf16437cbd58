#include "engine/stop_conditions.h"

#include <algorithm>
#include <array>

namespace ferrum {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stop_strings) : stop_strings_(std::move(stop_strings)) {
  std::erase_if(stop_strings_, [](const std::string& stop) { return stop.empty(); });
}

StopStringMatcher::Result StopStringMatcher::push(std::string_view text) {
  pending_.append(text);
  Result result;
  // The earliest complete stop string wins.
  size_t earliest = std::string::npos;
  for (const std::string& stop : stop_strings_) earliest = std::min(earliest, pending_.find(stop));
  if (earliest != std::string::npos) {
    result.emit = pending_.substr(0, earliest);
    result.stopped = true;
    pending_.clear();
    return result;
  }
  // Hold back the longest tail that is a prefix of some stop string.
  size_t held = 0;
  for (const std::string& stop : stop_strings_) {
    for (size_t length = std::min(stop.size() - 1, pending_.size()); length > held; --length) {
      if (std::string_view(pending_).substr(pending_.size() - length) == std::string_view(stop).substr(0, length)) {
        held = length;
        break;
      }
    }
  }
  result.emit = pending_.substr(0, pending_.size() - held);
  pending_.erase(0, pending_.size() - held);
  return result;
}

std::string StopStringMatcher::flush() {
  return std::exchange(pending_, {});
}

std::unordered_set<int32_t> end_of_generation_tokens(const tokenizer::Vocab& vocab, const ModelConfig& config) {
  std::unordered_set<int32_t> tokens;
  if (vocab.special().eos != tokenizer::kNoToken) tokens.insert(vocab.special().eos);
  for (int64_t id : config.tokens.eos) {
    if (vocab.contains(static_cast<int32_t>(id))) tokens.insert(static_cast<int32_t>(id));
  }
  // End-of-turn markers of the chat formats ferrum's templates produce.
  static constexpr std::array<std::string_view, 7> kEndOfTurn = {
      "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "<｜end▁of▁sentence｜>"};
  for (std::string_view marker : kEndOfTurn) {
    const int32_t id = vocab.find(marker);
    if (id != tokenizer::kNoToken && vocab.type(id) == tokenizer::TokenType::kControl) tokens.insert(id);
  }
  return tokens;
}

}  // namespace ferrum
