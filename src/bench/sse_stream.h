// Server-sent events as OpenAI-compatible servers stream them: "data: {json}" events separated by
// blank lines, ending with "data: [DONE]". SseParser cuts a byte stream (arriving in arbitrary
// pieces) into events; read_openai_chunk says what one event carries.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace ferrum::bench {

class SseParser {
 public:
  // Feeds received bytes; calls `on_data` with the data of each completed event (several data
  // lines joined with '\n'). Comments, event names and ids are skipped.
  void feed(std::string_view bytes, const std::function<void(std::string_view data)>& on_data);

 private:
  void finish_line(std::string_view line, const std::function<void(std::string_view)>& on_data);

  std::string pending_line_;
  std::string data_;
  bool has_data_ = false;
};

enum class OpenAiApi { kCompletions, kChatCompletions };

struct OpenAiChunk {
  bool done = false;  // the [DONE] sentinel
  std::string text;   // generated text in this chunk (completions: choices[0].text; chat: delta content)
  std::optional<size_t> prompt_tokens;      // from "usage", when the server reports it
  std::optional<size_t> completion_tokens;  // from "usage"
  std::optional<std::string> error;         // an "error" object, or data that is not JSON
};

OpenAiChunk read_openai_chunk(std::string_view data, OpenAiApi api);

}  // namespace ferrum::bench
