// Comma-separated number lists on the command line ("-p 128,512"), as llama-bench takes them.
#pragma once

#include <string_view>
#include <vector>

#include "core/error.h"

namespace ferrum::bench {

// "1,16,64" -> {1, 16, 64}; `flag` names the option in errors.
Expected<std::vector<size_t>> parse_size_list(std::string_view flag, std::string_view text);

}  // namespace ferrum::bench
