#include "bench/sse_stream.h"

#include <nlohmann/json.hpp>

namespace ferrum::bench {

void SseParser::feed(std::string_view bytes, const std::function<void(std::string_view)>& on_data) {
  for (char c : bytes) {
    if (c != '\n') {
      pending_line_ += c;
      continue;
    }
    if (!pending_line_.empty() && pending_line_.back() == '\r') pending_line_.pop_back();
    finish_line(pending_line_, on_data);
    pending_line_.clear();
  }
}

void SseParser::finish_line(std::string_view line, const std::function<void(std::string_view)>& on_data) {
  if (line.empty()) {  // a blank line ends the event
    if (has_data_) on_data(data_);
    data_.clear();
    has_data_ = false;
    return;
  }
  if (!line.starts_with("data:")) return;
  std::string_view value = line.substr(5);
  if (value.starts_with(' ')) value.remove_prefix(1);
  if (has_data_) data_ += '\n';
  data_ += value;
  has_data_ = true;
}

OpenAiChunk read_openai_chunk(std::string_view data, OpenAiApi api) {
  OpenAiChunk chunk;
  if (data == "[DONE]") {
    chunk.done = true;
    return chunk;
  }
  const nlohmann::json json = nlohmann::json::parse(data, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    chunk.error = "the server sent an event that is not JSON: " + std::string(data.substr(0, 200));
    return chunk;
  }
  if (json.contains("error")) {
    const nlohmann::json& error = json["error"];
    chunk.error = error.is_object() ? error.value("message", error.dump()) : error.dump();
    return chunk;
  }
  if (json.contains("choices") && json["choices"].is_array() && !json["choices"].empty()) {
    const nlohmann::json& choice = json["choices"][0];
    if (api == OpenAiApi::kCompletions) {
      if (choice.contains("text") && choice["text"].is_string()) chunk.text = choice["text"].get<std::string>();
    } else if (choice.contains("delta") && choice["delta"].is_object()) {
      const nlohmann::json& delta = choice["delta"];
      // Reasoning models stream their thinking separately; it is generated output all the same.
      for (const char* field : {"reasoning_content", "content"}) {
        if (delta.contains(field) && delta[field].is_string()) chunk.text += delta[field].get<std::string>();
      }
    }
  }
  if (json.contains("usage") && json["usage"].is_object()) {
    const nlohmann::json& usage = json["usage"];
    if (usage.contains("prompt_tokens") && usage["prompt_tokens"].is_number_unsigned()) {
      chunk.prompt_tokens = usage["prompt_tokens"].get<size_t>();
    }
    if (usage.contains("completion_tokens") && usage["completion_tokens"].is_number_unsigned()) {
      chunk.completion_tokens = usage["completion_tokens"].get<size_t>();
    }
  }
  return chunk;
}

}  // namespace ferrum::bench
