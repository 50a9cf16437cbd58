#include "bench/list_flags.h"

#include <charconv>

namespace ferrum::bench {

Expected<std::vector<size_t>> parse_size_list(std::string_view flag, std::string_view text) {
  std::vector<size_t> values;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = text.substr(start, end - start);
    size_t value = 0;
    const auto [ptr, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    FERRUM_CHECK(!item.empty() && error == std::errc() && ptr == item.data() + item.size(), ErrorCode::kInvalidArgument,
                 flag, ": '", item, "' in '", text, "' is not a number");
    values.push_back(value);
    start = end + 1;
  }
  return values;
}

}  // namespace ferrum::bench
