#include "server/reasoning.h"

#include <algorithm>

namespace ferrum::server {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

size_t partial_suffix(std::string_view text, std::string_view tag) {
  for (size_t length = std::min(text.size(), tag.size() - 1); length > 0; --length) {
    if (tag.starts_with(text.substr(text.size() - length))) return length;
  }
  return 0;
}

}  // namespace

bool prompt_opens_reasoning(std::string_view prompt) {
  const size_t end = prompt.find_last_not_of(" \t\r\n");
  return end != std::string_view::npos && prompt.substr(0, end + 1).ends_with(kOpen);
}

ReasoningSplitter::Output ReasoningSplitter::push(std::string_view text) {
  buffer_ += text;
  Output out;
  for (;;) {
    switch (mode_) {
      case Mode::kStart: {
        const size_t first = buffer_.find_first_not_of(" \t\r\n");
        if (first == std::string::npos) return out;
        const std::string_view start = std::string_view(buffer_).substr(first);
        if (start.size() < kOpen.size() && kOpen.starts_with(start)) return out;
        if (start.starts_with(kOpen)) {
          buffer_.erase(0, first + kOpen.size());
          mode_ = Mode::kReasoning;
          strip_leading_ = true;
          continue;
        }
        mode_ = Mode::kContent;  // no thinking: the text is all answer, as written
        continue;
      }
      case Mode::kReasoning: {
        if (strip_leading_) {
          const size_t first = buffer_.find_first_not_of("\r\n");
          buffer_.erase(0, first == std::string::npos ? buffer_.size() : first);
          if (buffer_.empty()) return out;
          strip_leading_ = false;
        }
        const size_t close = buffer_.find(kClose);
        if (close != std::string::npos) {
          out.reasoning += buffer_.substr(0, close);
          buffer_.erase(0, close + kClose.size());
          mode_ = Mode::kContent;
          strip_leading_ = true;
          continue;
        }
        const size_t held = partial_suffix(buffer_, kClose);
        out.reasoning += buffer_.substr(0, buffer_.size() - held);
        buffer_.erase(0, buffer_.size() - held);
        return out;
      }
      case Mode::kContent: {
        if (strip_leading_) {
          const size_t first = buffer_.find_first_not_of(" \t\r\n");
          buffer_.erase(0, first == std::string::npos ? buffer_.size() : first);
          if (buffer_.empty()) return out;
          strip_leading_ = false;
        }
        out.content += buffer_;
        buffer_.clear();
        return out;
      }
    }
  }
}

ReasoningSplitter::Output ReasoningSplitter::finish() {
  Output out;
  if (mode_ == Mode::kReasoning) {
    out.reasoning = std::move(buffer_);  // the model never closed its thinking
  } else if (!(mode_ == Mode::kContent && strip_leading_)) {
    out.content = std::move(buffer_);
  }
  buffer_.clear();
  return out;
}

}  // namespace ferrum::server
