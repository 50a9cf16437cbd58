// Levelled logging to stderr. The level comes from FERRUM_LOG (trace|debug|info|warn|error|off)
// or set_log_level(); messages below it cost one comparison.
#pragma once

#include <string_view>

#include "core/error.h"

namespace ferrum {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

LogLevel log_level();
void set_log_level(LogLevel level);
// Accepts the names above; returns false for anything else.
bool parse_log_level(std::string_view name, LogLevel& level);
// Writes one line "[level] message" atomically with respect to other log lines.
void log_write(LogLevel level, std::string_view message);

template <class... Args>
void log(LogLevel level, const Args&... args) {
  if (level >= log_level()) log_write(level, cat(args...));
}

}  // namespace ferrum

#define FERRUM_LOG_TRACE(...) ::ferrum::log(::ferrum::LogLevel::kTrace, __VA_ARGS__)
#define FERRUM_LOG_DEBUG(...) ::ferrum::log(::ferrum::LogLevel::kDebug, __VA_ARGS__)
#define FERRUM_LOG_INFO(...) ::ferrum::log(::ferrum::LogLevel::kInfo, __VA_ARGS__)
#define FERRUM_LOG_WARN(...) ::ferrum::log(::ferrum::LogLevel::kWarn, __VA_ARGS__)
#define FERRUM_LOG_ERROR(...) ::ferrum::log(::ferrum::LogLevel::kError, __VA_ARGS__)
