#include "server/tool_calls.h"

#include <random>

namespace ferrum::server {
namespace {

constexpr std::string_view kHermesOpen = "<tool_call>";
constexpr std::string_view kHermesClose = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kMistralMarker = "[TOOL_CALLS]";

std::string_view trim_space(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

// Length of the longest suffix of `text` that is a proper prefix of `marker`: text that may still
// become the marker and so must not be shown yet.
size_t partial_marker_suffix(std::string_view text, std::string_view marker) {
  for (size_t length = std::min(text.size(), marker.size() - 1); length > 0; --length) {
    if (marker.starts_with(text.substr(text.size() - length))) return length;
  }
  return 0;
}

// Consecutive top-level JSON values in `text`, separated by whitespace, ',' or ';'.
std::optional<std::vector<Json>> split_json_values(std::string_view text) {
  std::vector<Json> values;
  size_t position = 0;
  while (true) {
    while (position < text.size() && std::string_view(" \t\r\n,;").find(text[position]) != std::string_view::npos) {
      ++position;
    }
    if (position == text.size()) break;
    if (text[position] != '{' && text[position] != '[') return std::nullopt;
    int depth = 0;
    bool in_string = false, escaped = false;
    size_t end = position;
    for (; end < text.size(); ++end) {
      const char c = text[end];
      if (in_string) {
        if (escaped) {
          escaped = false;
        } else if (c == '\\') {
          escaped = true;
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        break;
      }
    }
    if (end == text.size()) return std::nullopt;
    Json value = Json::parse(text.substr(position, end + 1 - position), nullptr, false);
    if (value.is_discarded()) return std::nullopt;
    values.push_back(std::move(value));
    position = end + 1;
  }
  return values;
}

// Calls from JSON text holding objects or arrays of objects; nullopt when anything does not fit.
std::optional<std::vector<ParsedToolCall>> calls_from_text(std::string_view text) {
  auto values = split_json_values(text);
  if (!values || values->empty()) return std::nullopt;
  std::vector<ParsedToolCall> calls;
  for (const Json& value : *values) {
    const Json items = value.is_array() ? value : Json::array({value});
    for (const Json& item : items) {
      auto call = tool_call_from_json(item);
      if (!call) return std::nullopt;
      calls.push_back(std::move(*call));
    }
  }
  return calls;
}

}  // namespace

std::string_view tool_call_format_name(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kNone: return "none";
    case ToolCallFormat::kHermes: return "hermes";
    case ToolCallFormat::kLlama3Json: return "llama3_json";
    case ToolCallFormat::kMistral: return "mistral";
  }
  return "none";
}

std::optional<ToolCallFormat> parse_tool_call_format(std::string_view name) {
  for (ToolCallFormat format :
       {ToolCallFormat::kNone, ToolCallFormat::kHermes, ToolCallFormat::kLlama3Json, ToolCallFormat::kMistral}) {
    if (tool_call_format_name(format) == name) return format;
  }
  return std::nullopt;
}

ToolCallFormat detect_tool_call_format(std::string_view source) {
  if (source.find(kHermesOpen) != std::string_view::npos) return ToolCallFormat::kHermes;
  if (source.find(kMistralMarker) != std::string_view::npos) return ToolCallFormat::kMistral;
  if (source.find(kPythonTag) != std::string_view::npos || source.find("ipython") != std::string_view::npos) {
    return ToolCallFormat::kLlama3Json;
  }
  return ToolCallFormat::kNone;
}

std::vector<std::string> tool_call_marker_tokens(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kLlama3Json: return {std::string(kPythonTag)};
    case ToolCallFormat::kMistral: return {std::string(kMistralMarker)};
    default: return {};
  }
}

std::optional<ParsedToolCall> tool_call_from_json(const Json& value) {
  if (!value.is_object()) return std::nullopt;
  const auto name = value.find("name");
  if (name == value.end() || !name->is_string() || name->get<std::string>().empty()) return std::nullopt;
  auto arguments = value.find("arguments");
  if (arguments == value.end()) arguments = value.find("parameters");
  ParsedToolCall call;
  call.name = name->get<std::string>();
  if (arguments == value.end() || arguments->is_null()) {
    call.arguments = "{}";
  } else if (arguments->is_string()) {
    call.arguments = arguments->get<std::string>();  // already JSON text in some outputs
  } else {
    call.arguments = dump_json(*arguments);
  }
  return call;
}

ToolCallParser::Output ToolCallParser::push(std::string_view text) {
  buffer_ += text;
  Output out;
  switch (format_) {
    case ToolCallFormat::kNone:
      out.content = std::move(buffer_);
      buffer_.clear();
      return out;
    case ToolCallFormat::kHermes: return push_hermes();
    case ToolCallFormat::kLlama3Json: {
      if (mode_ == Mode::kStart) {
        const std::string_view start = trim_space(buffer_);
        if (start.empty() || (start.size() < kPythonTag.size() && kPythonTag.starts_with(start))) return out;
        mode_ = start.starts_with(kPythonTag) || start.front() == '{' ? Mode::kCall : Mode::kContent;
      }
      if (mode_ == Mode::kContent) {
        out.content = std::move(buffer_);
        buffer_.clear();
      }
      return out;  // a call is parsed whole at finish()
    }
    case ToolCallFormat::kMistral: {
      if (mode_ == Mode::kCall) return out;
      const size_t marker = buffer_.find(kMistralMarker);
      if (marker != std::string::npos) {
        out.content = buffer_.substr(0, marker);
        buffer_.erase(0, marker + kMistralMarker.size());
        mode_ = Mode::kCall;
        return out;
      }
      const size_t held = partial_marker_suffix(buffer_, kMistralMarker);
      out.content = buffer_.substr(0, buffer_.size() - held);
      buffer_.erase(0, buffer_.size() - held);
      return out;
    }
  }
  return out;
}

ToolCallParser::Output ToolCallParser::push_hermes() {
  Output out;
  for (;;) {
    if (mode_ == Mode::kCall) {
      const size_t close = buffer_.find(kHermesClose);
      if (close == std::string::npos) return out;
      const std::string_view body = trim_space(std::string_view(buffer_).substr(0, close));
      Json value = Json::parse(body, nullptr, false);
      if (auto call = value.is_discarded() ? std::nullopt : tool_call_from_json(value)) {
        out.calls.push_back(std::move(*call));
      } else {
        // Not a call after all: show the text as the model wrote it.
        out.content += std::string(kHermesOpen) + buffer_.substr(0, close + kHermesClose.size());
      }
      buffer_.erase(0, close + kHermesClose.size());
      mode_ = Mode::kTrailing;
      continue;
    }
    if (mode_ == Mode::kTrailing) {
      // Whitespace between and after calls is layout, not content.
      const size_t text = buffer_.find_first_not_of(" \t\r\n");
      if (text == std::string::npos) {
        buffer_.clear();
        return out;
      }
      buffer_.erase(0, text);
      mode_ = Mode::kContent;
    }
    const size_t open = buffer_.find(kHermesOpen);
    if (open != std::string::npos) {
      out.content += buffer_.substr(0, open);
      buffer_.erase(0, open + kHermesOpen.size());
      mode_ = Mode::kCall;
      continue;
    }
    const size_t held = partial_marker_suffix(buffer_, kHermesOpen);
    out.content += buffer_.substr(0, buffer_.size() - held);
    buffer_.erase(0, buffer_.size() - held);
    return out;
  }
}

ToolCallParser::Output ToolCallParser::finish() {
  Output out;
  if (mode_ == Mode::kCall) {
    std::string_view text = trim_space(buffer_);
    if (format_ == ToolCallFormat::kLlama3Json && text.starts_with(kPythonTag)) text.remove_prefix(kPythonTag.size());
    if (auto calls = format_ == ToolCallFormat::kHermes ? std::nullopt : calls_from_text(text)) {
      out.calls = std::move(*calls);
    } else {
      const std::string_view marker = format_ == ToolCallFormat::kHermes    ? kHermesOpen
                                      : format_ == ToolCallFormat::kMistral ? kMistralMarker
                                                                            : std::string_view();
      out.content = std::string(marker) + buffer_;
    }
  } else if (mode_ != Mode::kTrailing) {
    out.content = buffer_;
  }
  buffer_.clear();
  return out;
}

std::vector<ParsedToolCall> ForcedCallsParser::push(std::string_view text) {
  std::vector<ParsedToolCall> calls;
  for (char c : text) {
    if (depth_ >= 2 || (depth_ == 1 && c == '{')) element_ += c;
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      --depth_;
      if (depth_ == 1 && c == '}') {
        Json value = Json::parse(element_, nullptr, false);
        if (auto call = value.is_discarded() ? std::nullopt : tool_call_from_json(value)) calls.push_back(*call);
        element_.clear();
      }
    }
  }
  return calls;
}

std::string new_tool_call_id() {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[random() % kAlphabet.size()];
  return id;
}

}  // namespace ferrum::server
