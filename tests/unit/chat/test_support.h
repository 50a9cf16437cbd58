// Helpers shared by the chat-template tests.
#pragma once

#include <algorithm>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace ferrum::chat::testing {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// "2024-07-26T00:00:00" as broken-down time, for strftime_now.
inline std::tm parse_timestamp(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  const std::time_t t = timegm(&tm);
  gmtime_r(&t, &tm);  // fills in the weekday and the day of the year
  return tm;
}

// Where two renderings part: byte offset, line, and a window of each around it.
inline std::string describe_difference(const std::string& expected, const std::string& actual) {
  size_t at = 0;
  while (at < expected.size() && at < actual.size() && expected[at] == actual[at]) ++at;
  const auto line = 1 + std::count(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(at), '\n');
  const size_t from = at > 40 ? at - 40 : 0;
  auto window = [&](const std::string& s) {
    return nlohmann::json(s.substr(std::min(from, s.size()), 100))
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::ostringstream out;
  out << "first difference at byte " << at << " (line " << line << "; expected " << expected.size() << " bytes, got "
      << actual.size() << ")\n    expected: " << window(expected) << "\n    actual:   " << window(actual);
  return out.str();
}

}  // namespace ferrum::chat::testing
