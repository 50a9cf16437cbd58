#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace ferrum {
namespace {

LogLevel initial_level() {
  LogLevel level = LogLevel::kInfo;
  if (const char* env = std::getenv("FERRUM_LOG")) parse_log_level(env, level);
  return level;
}

std::atomic<LogLevel>& level_storage() {
  static std::atomic<LogLevel> level{initial_level()};
  return level;
}

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "?";
}

}  // namespace

LogLevel log_level() {
  return level_storage().load(std::memory_order_relaxed);
}

void set_log_level(LogLevel level) {
  level_storage().store(level, std::memory_order_relaxed);
}

bool parse_log_level(std::string_view name, LogLevel& level) {
  for (LogLevel candidate :
       {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError, LogLevel::kOff}) {
    if (name == level_name(candidate)) {
      level = candidate;
      return true;
    }
  }
  return false;
}

void log_write(LogLevel level, std::string_view message) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::fprintf(stderr, "[%.*s] %.*s\n", static_cast<int>(level_name(level).size()), level_name(level).data(),
               static_cast<int>(message.size()), message.data());
}

}  // namespace ferrum
