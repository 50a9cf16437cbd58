#include "core/error.h"

namespace ferrum {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kShapeMismatch: return "shape mismatch";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kIo: return "i/o error";
    case ErrorCode::kParse: return "parse error";
    case ErrorCode::kOutOfMemory: return "out of memory";
    case ErrorCode::kOutOfRange: return "out of range";
    case ErrorCode::kLimitExceeded: return "limit exceeded";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown error";
}

std::string Error::to_string() const {
  return cat(error_code_name(code_), ": ", message_);
}

Error&& Error::with_context(std::string_view context) && {
  message_ = cat(context, ": ", message_);
  return std::move(*this);
}

}  // namespace ferrum
