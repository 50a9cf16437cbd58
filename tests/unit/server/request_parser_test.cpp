// The HTTP/1.1 request parser on every split of its input, bodies in both framings, pipelining,
// and each malformed or oversized request answered with its status.
#include "server/http/request_parser.h"

#include <gtest/gtest.h>

#include "server/http/multipart.h"

namespace ferrum::http {
namespace {

struct Parsed {
  std::vector<HttpRequest> requests;
  int error = 0;
};

// Feeds `bytes` in pieces of `step` bytes, collecting complete requests.
Parsed parse(std::string_view bytes, size_t step, ParserLimits limits = {}) {
  RequestParser parser(limits);
  Parsed out;
  std::string pending;
  for (size_t offset = 0; offset < bytes.size(); offset += step) {
    pending += bytes.substr(offset, step);
    while (!pending.empty()) {
      const size_t used = parser.feed(pending);
      pending.erase(0, used);
      if (parser.state() == RequestParser::State::kError) {
        out.error = parser.error_status();
        return out;
      }
      if (parser.state() != RequestParser::State::kComplete) break;
      out.requests.push_back(parser.take());
    }
  }
  return out;
}

TEST(RequestParser, GetWithQueryAndHeaders) {
  const Parsed parsed = parse("GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\nX-Thing:  spaced value \r\n\r\n", 1000);
  ASSERT_EQ(parsed.requests.size(), 1u);
  const HttpRequest& request = parsed.requests[0];
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.path, "/v1/models");
  EXPECT_EQ(request.query, "x=1");
  ASSERT_NE(request.header("x-thing"), nullptr);
  EXPECT_EQ(*request.header("x-thing"), "spaced value");
  EXPECT_TRUE(request.keep_alive);
}

TEST(RequestParser, EverySplitGivesTheSameRequests) {
  const std::string bytes =
      "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
      "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n"
      "GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  for (size_t step = 1; step <= bytes.size(); ++step) {
    const Parsed parsed = parse(bytes, step);
    ASSERT_EQ(parsed.error, 0) << "step " << step;
    ASSERT_EQ(parsed.requests.size(), 3u) << "step " << step;
    EXPECT_EQ(parsed.requests[0].body, "hello");
    EXPECT_EQ(parsed.requests[1].path, "/b");
    EXPECT_EQ(parsed.requests[1].body, "abcde");
    EXPECT_EQ(parsed.requests[2].version_minor, 0);
    EXPECT_TRUE(parsed.requests[2].keep_alive);
  }
}

TEST(RequestParser, ConnectionSemantics) {
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 100).requests[0].keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n", 100).requests[0].keep_alive);
}

TEST(RequestParser, ExpectContinue) {
  RequestParser parser({});
  parser.feed("POST /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(parser.state(), RequestParser::State::kIncomplete);
  EXPECT_TRUE(parser.expects_continue());
  parser.feed("abc");
  EXPECT_EQ(parser.state(), RequestParser::State::kComplete);
}

TEST(RequestParser, MalformedAndOversizedRequests) {
  ParserLimits limits;
  limits.max_body_bytes = 10;
  limits.max_header_bytes = 200;
  const std::pair<std::string, int> cases[] = {
      {"GET /\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET http://x/ HTTP/1.1\r\n\r\n", 400},
      {"GE T / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n folded\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n", 413},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400},
      {"GET / HTTP/1.1\r\nX: " + std::string(300, 'a') + "\r\n\r\n", 431},
  };
  for (const auto& [bytes, status] : cases) {
    EXPECT_EQ(parse(bytes, 1, limits).error, status) << bytes;
    EXPECT_EQ(parse(bytes, 1000, limits).error, status) << bytes;
  }
}

TEST(Multipart, FieldsAndFiles) {
  using namespace std::string_literals;
  const std::string body =
      "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
      "RIFF\r\n--Xy\x00\x01"s
      "data\r\n--XyZ--\r\n";
  auto parts = parse_multipart(body, "XyZ");
  ASSERT_TRUE(parts) << parts.error().to_string();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "model");
  EXPECT_EQ((*parts)[0].data, "whisper");
  EXPECT_EQ((*parts)[1].filename.value_or(""), "a.wav");
  EXPECT_EQ((*parts)[1].content_type, "audio/wav");
  EXPECT_EQ((*parts)[1].data, std::string("RIFF\r\n--Xy\x00\x01"
                                          "data",
                                          16));
}

TEST(Multipart, MalformedBodies) {
  EXPECT_FALSE(parse_multipart("no boundary here", "b"));
  EXPECT_FALSE(parse_multipart("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nunterminated", "b"));
  EXPECT_FALSE(parse_multipart("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "b"));
  EXPECT_FALSE(parse_multipart("--b\r\n\r\nx\r\n--b--", "b"));
  EXPECT_FALSE(parse_multipart(")--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n--b--", "b"));
}

TEST(HeaderParameter, QuotedAndPlain) {
  EXPECT_EQ(header_parameter("multipart/form-data; boundary=abc", "boundary").value_or(""), "abc");
  EXPECT_EQ(header_parameter("multipart/form-data; charset=x; BOUNDARY=\"a b\"", "boundary").value_or(""), "a b");
  EXPECT_FALSE(header_parameter("multipart/form-data", "boundary"));
}

}  // namespace
}  // namespace ferrum::http
