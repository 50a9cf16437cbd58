#include "server/http/multipart.h"

#include <cctype>

#include "server/http/http_request.h"

namespace ferrum::http {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

Status parse_part_headers(std::string_view headers, MultipartPart& part) {
  bool has_disposition = false;
  while (!headers.empty()) {
    const size_t end = headers.find("\r\n");
    const std::string_view line = headers.substr(0, end);
    headers = end == std::string_view::npos ? std::string_view() : headers.substr(end + 2);
    const size_t colon = line.find(':');
    FERRUM_CHECK(colon != std::string_view::npos, ErrorCode::kParse, "multipart: malformed part header");
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (equals_ignoring_case(name, "content-disposition")) {
      FERRUM_CHECK(value.substr(0, value.find(';')) == "form-data", ErrorCode::kParse,
                   "multipart: a part is not form-data");
      const std::optional<std::string> field = header_parameter(value, "name");
      FERRUM_CHECK(field.has_value(), ErrorCode::kParse, "multipart: a part has no field name");
      part.name = *field;
      part.filename = header_parameter(value, "filename");
      has_disposition = true;
    } else if (equals_ignoring_case(name, "content-type")) {
      part.content_type = std::string(value);
    }
  }
  FERRUM_CHECK(has_disposition, ErrorCode::kParse, "multipart: a part has no Content-Disposition");
  return ok();
}

}  // namespace

Expected<std::vector<MultipartPart>> parse_multipart(std::string_view body, std::string_view boundary) {
  FERRUM_CHECK(!boundary.empty() && boundary.size() <= 70, ErrorCode::kParse, "multipart: bad boundary");
  const std::string delimiter = "--" + std::string(boundary);
  // The first delimiter may follow a preamble; later ones always start a line.
  size_t position = body.find(delimiter);
  FERRUM_CHECK(position != std::string_view::npos, ErrorCode::kParse, "multipart: the boundary never appears");
  FERRUM_CHECK(position == 0 || (position >= 2 && body.substr(position - 2, 2) == "\r\n"), ErrorCode::kParse,
               "multipart: the boundary does not start a line");
  std::vector<MultipartPart> parts;
  const std::string next_delimiter = "\r\n" + delimiter;
  for (;;) {
    position += delimiter.size();
    if (body.substr(position, 2) == "--") return parts;  // the closing delimiter
    // Transport padding, then CRLF.
    while (position < body.size() && (body[position] == ' ' || body[position] == '\t')) ++position;
    FERRUM_CHECK(body.substr(position, 2) == "\r\n", ErrorCode::kParse, "multipart: malformed boundary line");
    position += 2;
    const size_t headers_end = body.find("\r\n\r\n", position);
    MultipartPart part;
    FERRUM_CHECK(body.substr(position, 2) != "\r\n", ErrorCode::kParse, "multipart: a part has no Content-Disposition");
    FERRUM_CHECK(headers_end != std::string_view::npos, ErrorCode::kParse, "multipart: unterminated part headers");
    FERRUM_TRY(parse_part_headers(body.substr(position, headers_end - position), part));
    const size_t data_start = headers_end + 4;
    const size_t data_end = body.find(next_delimiter, data_start);
    FERRUM_CHECK(data_end != std::string_view::npos, ErrorCode::kParse, "multipart: the body ends inside a part");
    part.data = std::string(body.substr(data_start, data_end - data_start));
    parts.push_back(std::move(part));
    position = data_end + 2;
  }
}

}  // namespace ferrum::http
