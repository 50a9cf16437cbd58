// Feeds arbitrary bytes to the HTTP request parser in two splits (the parse must not depend on how
// the bytes arrive), and every complete request's body to the multipart parser.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "server/http/multipart.h"
#include "server/http/request_parser.h"

namespace {

struct Outcome {
  std::vector<std::string> bodies;
  int error = 0;
};

Outcome parse(std::string_view bytes, size_t split) {
  ferrum::http::ParserLimits limits;
  limits.max_body_bytes = 4096;
  limits.max_header_bytes = 2048;
  ferrum::http::RequestParser parser(limits);
  Outcome outcome;
  std::string pending;
  for (std::string_view piece : {bytes.substr(0, split), bytes.substr(split)}) {
    pending.append(piece);
    while (!pending.empty()) {
      const size_t used = parser.feed(pending);
      if (used > pending.size()) __builtin_trap();
      pending.erase(0, used);
      if (parser.state() == ferrum::http::RequestParser::State::kError) {
        outcome.error = parser.error_status();
        return outcome;
      }
      if (parser.state() != ferrum::http::RequestParser::State::kComplete) break;
      ferrum::http::HttpRequest request = parser.take();
      if (request.body.size() > limits.max_body_bytes) __builtin_trap();
      outcome.bodies.push_back(request.body);
      if (const std::string* type = request.header("content-type")) {
        if (auto boundary = ferrum::http::header_parameter(*type, "boundary")) {
          (void)ferrum::http::parse_multipart(request.body, *boundary);
        }
      }
    }
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const Outcome whole = parse(bytes, bytes.size());
  const Outcome split = parse(bytes, bytes.size() / 2);
  if (whole.bodies != split.bodies || whole.error != split.error) __builtin_trap();
  return 0;
}
