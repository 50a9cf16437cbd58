// Incremental HTTP/1.1 request parser: feed it bytes as they arrive, in any split; it reports a
// complete request, a need for more bytes, or an error with the status to answer (400 malformed,
// 413 body too large, 431 headers too large, 501 unknown transfer coding, 505 not HTTP/1.x).
// Bodies come with Content-Length or chunked transfer coding; a request carrying both is refused,
// as is a Content-Length that disagrees with itself (the request-smuggling cases).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "server/http/http_request.h"

namespace ferrum::http {

struct ParserLimits {
  size_t max_header_bytes = 64 * 1024;  // request line and headers together
  size_t max_headers = 128;
  size_t max_body_bytes = 32 * 1024 * 1024;
};

class RequestParser {
 public:
  enum class State { kIncomplete, kComplete, kError };

  explicit RequestParser(ParserLimits limits) : limits_(limits) {}

  // Consumes a prefix of `data` and returns its length: everything up to the end of the current
  // request, so bytes of a pipelined next request stay with the caller.
  size_t feed(std::string_view data);

  State state() const { return state_; }
  bool headers_complete() const { return phase_ != Phase::kHeaders; }
  // The client sent `Expect: 100-continue` and waits for a go-ahead before the body.
  bool expects_continue() const { return expects_continue_; }
  // Bytes consumed for the request in progress (0 when idle between requests).
  size_t bytes_seen() const { return bytes_seen_; }

  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

  // The complete request; the parser is then ready for the next one.
  HttpRequest take();

 private:
  enum class Phase { kHeaders, kFixedBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kDone };

  void fail(int status, std::string message);
  void parse_head(std::string_view head);
  size_t feed_chunked(std::string_view data);

  ParserLimits limits_;
  State state_ = State::kIncomplete;
  Phase phase_ = Phase::kHeaders;
  std::string head_;  // bytes of the request line and headers so far
  std::string line_;  // a chunk-size or trailer line in progress
  HttpRequest request_;
  size_t body_remaining_ = 0;
  size_t bytes_seen_ = 0;
  bool expects_continue_ = false;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace ferrum::http
