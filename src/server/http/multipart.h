// multipart/form-data bodies (RFC 7578), as file uploads arrive: each part's field name, file name,
// content type and bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ferrum::http {

struct MultipartPart {
  std::string name;
  std::optional<std::string> filename;
  std::string content_type;  // empty when the part has none (text/plain by default)
  std::string data;
};

// Splits `body` on `boundary` (the Content-Type's boundary parameter). Errors say what is malformed.
Expected<std::vector<MultipartPart>> parse_multipart(std::string_view body, std::string_view boundary);

}  // namespace ferrum::http
