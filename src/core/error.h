// Errors returned by value: every fallible function returns Expected<T> (or Status for no value).
// Messages name what failed (the op, file, tensor or parameter) and the values involved.
#pragma once

#include <cassert>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace ferrum {

enum class ErrorCode {
  kInvalidArgument,  // a caller passed something malformed (bad flag, bad JSON, bad id)
  kShapeMismatch,    // sizes of buffers / tensors disagree with what an op or model expects
  kUnsupported,      // valid request, but this backend / build / format does not implement it
  kNotFound,         // a file, tensor, key or model that should exist does not
  kIo,               // the OS refused a read, write, map or socket operation
  kParse,            // a file or message is malformed
  kOutOfMemory,      // an allocation (host or device) failed
  kOutOfRange,       // an index or offset points past the end of something
  kLimitExceeded,    // a request exceeds a configured limit (tokens, recursion, body size)
  kCancelled,        // the caller asked to stop
  kInternal,         // a bug: an invariant of ours does not hold
};

std::string_view error_code_name(ErrorCode code);

// Concatenates any streamable values into one string: cat("op ", name, " got ", n).
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "shape mismatch: gemm: a has 12 elements, expected 16"
  std::string to_string() const;

  // Adds context in front of the message: "loading model.gguf: " + message.
  Error&& with_context(std::string_view context) &&;

 private:
  ErrorCode code_;
  std::string message_;
};

template <class... Args>
Error make_error(ErrorCode code, const Args&... args) {
  return Error(code, cat(args...));
}

// A value or an Error. Construct from either; test with `if (!result)`.
template <class T>
class [[nodiscard]] Expected {
 public:
  using value_type = T;

  template <class U = T>
  requires std::is_constructible_v<T, U&&> &&
      (!std::is_same_v<std::remove_cvref_t<U>, Error>)&&(!std::is_same_v<std::remove_cvref_t<U>, Expected>)
          Expected(U&& value)
      : state_(std::in_place_index<0>, std::forward<U>(value)) {}
  Expected(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return checked_value(); }
  const T& value() const& { return const_cast<Expected*>(this)->checked_value(); }
  T&& value() && { return std::move(checked_value()); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::move(std::get<1>(state_)); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(state_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  T& checked_value() {
    assert(has_value() && "Expected::value() on an error");
    return std::get<0>(state_);
  }
  std::variant<T, Error> state_;
};

// Success or an Error, for functions that return nothing.
template <>
class [[nodiscard]] Expected<void> {
 public:
  Expected() = default;
  Expected(Error error) : error_(std::move(error)), failed_(true) {}

  bool has_value() const { return !failed_; }
  explicit operator bool() const { return has_value(); }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool failed_ = false;
};

using Status = Expected<void>;

inline Status ok() {
  return {};
}

}  // namespace ferrum

// Returns the error of a failed Status / Expected from the enclosing function.
#define FERRUM_TRY(expr)                            \
  do {                                              \
    auto ferrum_try_result_ = (expr);               \
    if (!ferrum_try_result_) {                      \
      return std::move(ferrum_try_result_).error(); \
    }                                               \
  } while (false)

#define FERRUM_CONCAT_INNER_(a, b) a##b
#define FERRUM_CONCAT_(a, b) FERRUM_CONCAT_INNER_(a, b)

// FERRUM_ASSIGN_OR_RETURN(auto file, open(path)); declares `file` from the value or returns the error.
#define FERRUM_ASSIGN_OR_RETURN(lhs, expr) \
  FERRUM_ASSIGN_OR_RETURN_IMPL_(FERRUM_CONCAT_(ferrum_assign_result_, __LINE__), lhs, expr)
#define FERRUM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp) {                                         \
    return std::move(tmp).error();                    \
  }                                                   \
  lhs = std::move(tmp).value()

// Returns an Error with `code` and a message built from the remaining arguments when `cond` is false.
// Active in release builds: this is how ops reject mis-sized buffers.
#define FERRUM_CHECK(cond, code, ...)                   \
  do {                                                  \
    if (!(cond)) {                                      \
      return ::ferrum::make_error((code), __VA_ARGS__); \
    }                                                   \
  } while (false)
