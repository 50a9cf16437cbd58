// Reasoning models (Qwen3, DeepSeek-R1) think inside <think> ... </think> before they answer; the
// API returns that part as `reasoning_content` and the rest as `content`. ReasoningSplitter splits
// streamed text, holding back text that may be part of a tag. A model whose prompt already opened
// the block (DeepSeek-R1's template ends with "<think>\n") starts inside it.
#pragma once

#include <string>
#include <string_view>

namespace ferrum::server {

class ReasoningSplitter {
 public:
  explicit ReasoningSplitter(bool starts_in_reasoning)
      : mode_(starts_in_reasoning ? Mode::kReasoning : Mode::kStart), strip_leading_(starts_in_reasoning) {}

  struct Output {
    std::string reasoning;
    std::string content;
  };
  Output push(std::string_view text);
  Output finish();

 private:
  enum class Mode { kStart, kReasoning, kContent };
  Mode mode_;
  bool strip_leading_;  // drop the newlines that follow a tag
  std::string buffer_;
};

// True when the rendered prompt ends inside an opened <think> block.
bool prompt_opens_reasoning(std::string_view prompt);

}  // namespace ferrum::server
