// Errors as the OpenAI API reports them: an HTTP status and
//   {"error": {"message": ..., "type": "invalid_request_error", "param": "temperature", "code": null}}
// so clients (the official SDKs raise BadRequestError, AuthenticationError, ... from the status)
// show the message and the parameter at fault. ApiResult<T> carries a value or one of these.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "core/error.h"

namespace ferrum::server {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::optional<std::string> param;
  std::optional<std::string> code;

  std::string to_json() const;
};

ApiError invalid_request(std::string message, std::optional<std::string> param = std::nullopt);
ApiError not_found(std::string message, std::string code);
ApiError unauthorized();
ApiError internal_error(std::string message);
// An engine or model error: the caller's fault (400) for invalid arguments and exceeded limits,
// the server's (500) otherwise.
ApiError from_error(const Error& error, std::optional<std::string> param = std::nullopt);

template <class T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  ApiResult(ApiError error) : state_(std::in_place_index<1>, std::move(error)) {}

  explicit operator bool() const { return state_.index() == 0; }
  T& operator*() { return std::get<0>(state_); }
  T* operator->() { return &std::get<0>(state_); }
  const ApiError& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, ApiError> state_;
};

}  // namespace ferrum::server

// Returns the ApiError of a failed ApiResult from the enclosing function.
#define FERRUM_API_ASSIGN_OR_RETURN(lhs, expr) \
  FERRUM_API_ASSIGN_IMPL_(FERRUM_CONCAT_(ferrum_api_result_, __LINE__), lhs, expr)
#define FERRUM_API_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                            \
  if (!tmp) return tmp.error();                 \
  lhs = std::move(*tmp)
