// Server-sent events as the OpenAI streaming APIs frame them: each chunk is one `data:` line and a
// blank line, and the stream ends with `data: [DONE]`. A payload with line breaks is split over
// several data lines, which clients join back with "\n" (compact JSON never has any).
#pragma once

#include <string>
#include <string_view>

namespace ferrum::server {

std::string sse_event(std::string_view payload);
inline std::string sse_done() {
  return "data: [DONE]\n\n";
}

}  // namespace ferrum::server
