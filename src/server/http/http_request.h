// An HTTP/1.1 request as the server hands it to a handler: method, target split into path and
// query, headers with lower-cased names, and the whole body (de-chunked).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferrum::http {

struct HttpHeader {
  std::string name;  // lower case
  std::string value;
};

struct HttpRequest {
  std::string method;
  std::string target;     // as sent: "/v1/models?x=1"
  std::string path;       // "/v1/models"
  std::string query;      // "x=1"
  int version_minor = 1;  // HTTP/1.x
  std::vector<HttpHeader> headers;
  std::string body;
  bool keep_alive = true;

  // The first header named `name` (lower case), or nullptr.
  const std::string* header(std::string_view name) const;
};

// "OK", "Not Found", ... for the status codes the server sends.
std::string_view status_reason(int status);

// Case-insensitive ASCII comparison, for header values such as "chunked" and "close".
bool equals_ignoring_case(std::string_view a, std::string_view b);

// The value of parameter `name` in a header such as `multipart/form-data; boundary=xyz` (quotes
// removed), or nullopt.
std::optional<std::string> header_parameter(std::string_view header_value, std::string_view name);

}  // namespace ferrum::http
