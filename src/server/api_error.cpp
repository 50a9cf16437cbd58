#include "server/api_error.h"

#include <nlohmann/json.hpp>

namespace ferrum::server {

std::string ApiError::to_json() const {
  nlohmann::ordered_json error = {{"message", message},
                                  {"type", type},
                                  {"param", param ? nlohmann::ordered_json(*param) : nullptr},
                                  {"code", code ? nlohmann::ordered_json(*code) : nullptr}};
  return nlohmann::ordered_json{{"error", std::move(error)}}.dump(-1, ' ', false,
                                                                  nlohmann::ordered_json::error_handler_t::replace);
}

ApiError invalid_request(std::string message, std::optional<std::string> param) {
  return {400, "invalid_request_error", std::move(message), std::move(param), std::nullopt};
}

ApiError not_found(std::string message, std::string code) {
  return {404, "invalid_request_error", std::move(message), std::nullopt, std::move(code)};
}

ApiError unauthorized() {
  return {401, "authentication_error", "invalid or missing API key (send it as 'Authorization: Bearer <key>')",
          std::nullopt, "invalid_api_key"};
}

ApiError internal_error(std::string message) {
  return {500, "server_error", std::move(message), std::nullopt, std::nullopt};
}

ApiError from_error(const Error& error, std::optional<std::string> param) {
  switch (error.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kLimitExceeded:
    case ErrorCode::kParse:
    case ErrorCode::kOutOfRange:
    case ErrorCode::kUnsupported: return invalid_request(error.message(), std::move(param));
    default: return internal_error(error.to_string());
  }
}

}  // namespace ferrum::server
