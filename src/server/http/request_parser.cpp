#include "server/http/request_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace ferrum::http {
namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// True when the comma-separated header value lists `token` (case-insensitive).
bool lists_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (equals_ignoring_case(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

void RequestParser::fail(int status, std::string message) {
  state_ = State::kError;
  error_status_ = status;
  error_message_ = std::move(message);
}

size_t RequestParser::feed(std::string_view data) {
  if (state_ != State::kIncomplete) return 0;
  size_t used = 0;
  if (phase_ == Phase::kHeaders) {
    // Blank lines before a request line are allowed (RFC 9112 section 2.2).
    if (head_.empty()) {
      while (used < data.size() && (data[used] == '\r' || data[used] == '\n')) ++used;
      data.remove_prefix(used);
      if (data.empty()) return used;
    }
    const size_t old_size = head_.size();
    const size_t room = limits_.max_header_bytes + 4 - std::min(old_size, limits_.max_header_bytes + 4);
    head_.append(data.substr(0, std::min(room, data.size())));
    const size_t end = head_.find("\r\n\r\n", old_size >= 3 ? old_size - 3 : 0);
    if (end == std::string::npos) {
      if (head_.size() > limits_.max_header_bytes) {
        fail(431, "the request line and headers exceed " + std::to_string(limits_.max_header_bytes) + " bytes");
      }
      used += head_.size() - old_size;
      bytes_seen_ += used;
      return used;
    }
    const size_t head_end = end + 4;
    used += head_end - old_size;
    data.remove_prefix(head_end - old_size);
    head_.resize(head_end);
    bytes_seen_ += used;
    parse_head(std::string_view(head_).substr(0, end + 2));
    if (state_ != State::kIncomplete) return used;
  }
  const size_t before = used;
  while (!data.empty() && state_ == State::kIncomplete) {
    if (phase_ == Phase::kFixedBody) {
      const size_t take = std::min(body_remaining_, data.size());
      request_.body.append(data.substr(0, take));
      data.remove_prefix(take);
      used += take;
      body_remaining_ -= take;
      if (body_remaining_ == 0) {
        phase_ = Phase::kDone;
        state_ = State::kComplete;
      }
    } else {
      const size_t taken = feed_chunked(data);
      data.remove_prefix(taken);
      used += taken;
      if (taken == 0) break;
    }
  }
  bytes_seen_ += used - before;
  return used;
}

void RequestParser::parse_head(std::string_view head) {
  // head: the request line and header lines, each ending in CRLF.
  size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  head.remove_prefix(line_end + 2);

  const size_t first_space = request_line.find(' ');
  const size_t second_space =
      first_space == std::string_view::npos ? first_space : request_line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos || request_line.find(' ', second_space + 1) != std::string_view::npos) {
    return fail(400, "malformed request line");
  }
  const std::string_view method = request_line.substr(0, first_space);
  const std::string_view target = request_line.substr(first_space + 1, second_space - first_space - 1);
  const std::string_view version = request_line.substr(second_space + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
    return fail(400, "malformed request method");
  }
  if (version == "HTTP/1.1") {
    request_.version_minor = 1;
  } else if (version == "HTTP/1.0") {
    request_.version_minor = 0;
  } else if (version.starts_with("HTTP/")) {
    return fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
  } else {
    return fail(400, "malformed HTTP version");
  }
  if (target.empty() || target.front() != '/') return fail(400, "the request target must be an absolute path");
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return fail(400, "control characters in the request target");
  }
  request_.method = std::string(method);
  request_.target = std::string(target);
  const size_t question = target.find('?');
  request_.path = std::string(target.substr(0, question));
  request_.query = question == std::string_view::npos ? "" : std::string(target.substr(question + 1));

  while (!head.empty()) {
    line_end = head.find("\r\n");
    const std::string_view line = head.substr(0, line_end);
    head.remove_prefix(line_end + 2);
    if (line.front() == ' ' || line.front() == '\t') return fail(400, "obsolete header line folding");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(400, "malformed header line");
    const std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) return fail(400, "malformed header name");
    const std::string_view value = trim(line.substr(colon + 1));
    for (char c : value) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        return fail(400, "control characters in a header value");
      }
    }
    if (request_.headers.size() >= limits_.max_headers) {
      return fail(431, "more than " + std::to_string(limits_.max_headers) + " headers");
    }
    request_.headers.push_back({lower(name), std::string(value)});
  }

  const std::string* connection = request_.header("connection");
  request_.keep_alive = request_.version_minor == 1 ? !(connection && lists_token(*connection, "close"))
                                                    : (connection && lists_token(*connection, "keep-alive"));

  std::optional<size_t> content_length;
  bool chunked = false;
  for (const HttpHeader& header : request_.headers) {
    if (header.name == "content-length") {
      size_t length = 0;
      const char* end = header.value.data() + header.value.size();
      const auto [ptr, ec] = std::from_chars(header.value.data(), end, length);
      if (header.value.empty() || ec != std::errc() || ptr != end) return fail(400, "malformed Content-Length");
      if (content_length && *content_length != length) return fail(400, "conflicting Content-Length headers");
      content_length = length;
    } else if (header.name == "transfer-encoding") {
      if (!equals_ignoring_case(trim(header.value), "chunked") || chunked) {
        return fail(501, "only the chunked transfer coding is supported");
      }
      chunked = true;
    }
  }
  if (chunked && content_length) return fail(400, "both Content-Length and Transfer-Encoding");
  if (content_length && *content_length > limits_.max_body_bytes) {
    return fail(413, "the body of " + std::to_string(*content_length) + " bytes exceeds the limit of " +
                         std::to_string(limits_.max_body_bytes));
  }
  const std::string* expect = request_.header("expect");
  const bool has_body = chunked || (content_length && *content_length > 0);
  expects_continue_ = has_body && expect && equals_ignoring_case(*expect, "100-continue");
  if (chunked) {
    phase_ = Phase::kChunkSize;
  } else if (has_body) {
    phase_ = Phase::kFixedBody;
    body_remaining_ = *content_length;
    request_.body.reserve(*content_length);
  } else {
    phase_ = Phase::kDone;
    state_ = State::kComplete;
  }
}

size_t RequestParser::feed_chunked(std::string_view data) {
  switch (phase_) {
    case Phase::kChunkSize:
    case Phase::kChunkDataEnd:
    case Phase::kTrailers: {
      // Line-oriented phases: collect up to the end of the line.
      const size_t newline = data.find('\n');
      const size_t take = newline == std::string_view::npos ? data.size() : newline + 1;
      line_.append(data.substr(0, take));
      if (line_.size() > 4096) {
        fail(400, "an overlong chunk-size or trailer line");
        return take;
      }
      if (newline == std::string_view::npos) return take;
      std::string_view line = line_;
      if (line.size() < 2 || line[line.size() - 2] != '\r') {
        fail(400, "chunk lines must end in CRLF");
        return take;
      }
      line.remove_suffix(2);
      if (phase_ == Phase::kChunkDataEnd) {
        if (!line.empty()) fail(400, "chunk data longer than its size");
        phase_ = Phase::kChunkSize;
      } else if (phase_ == Phase::kChunkSize) {
        const std::string_view digits = trim(line.substr(0, line.find(';')));
        size_t size = 0;
        const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
        if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
          fail(400, "malformed chunk size");
        } else if (size > limits_.max_body_bytes - request_.body.size()) {
          fail(413, "the chunked body exceeds the limit of " + std::to_string(limits_.max_body_bytes) + " bytes");
        } else if (size == 0) {
          phase_ = Phase::kTrailers;
        } else {
          body_remaining_ = size;
          phase_ = Phase::kChunkData;
        }
      } else if (line.empty()) {  // the blank line after the trailers
        phase_ = Phase::kDone;
        state_ = State::kComplete;
      }
      line_.clear();
      return take;
    }
    case Phase::kChunkData: {
      const size_t take = std::min(body_remaining_, data.size());
      request_.body.append(data.substr(0, take));
      body_remaining_ -= take;
      if (body_remaining_ == 0) phase_ = Phase::kChunkDataEnd;
      return take;
    }
    default: return 0;
  }
}

HttpRequest RequestParser::take() {
  HttpRequest request = std::move(request_);
  request_ = HttpRequest{};
  state_ = State::kIncomplete;
  phase_ = Phase::kHeaders;
  head_.clear();
  line_.clear();
  body_remaining_ = 0;
  bytes_seen_ = 0;
  expects_continue_ = false;
  return request;
}

}  // namespace ferrum::http
