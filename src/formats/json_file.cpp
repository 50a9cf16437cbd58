#include "formats/json_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ferrum {

Expected<nlohmann::json> parse_json(std::string_view text, std::string_view source) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& error) {
    return make_error(ErrorCode::kParse, source, ": invalid JSON: ", error.what());
  }
}

Expected<std::string> read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const ErrorCode code = errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo;
    return make_error(code, "cannot open ", path.string(), ": ", std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(ErrorCode::kIo, "cannot read ", path.string());
  return std::move(text).str();
}

Expected<nlohmann::json> read_json_file(const std::filesystem::path& path) {
  FERRUM_ASSIGN_OR_RETURN(const std::string text, read_text_file(path));
  return parse_json(text, path.string());
}

std::string json_snippet(const nlohmann::json& value, size_t max_chars) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > max_chars) text = text.substr(0, max_chars) + "...";
  return text;
}

std::string_view json_type_name(const nlohmann::json& value) {
  return value.type_name();
}

}  // namespace ferrum
