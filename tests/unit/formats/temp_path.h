// Scratch paths for the formats tests: per process, so two checkouts running test-formats at the
// same time never share a file.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace ferrum {

inline std::filesystem::path unique_temp_path(std::string_view name) {
  return std::filesystem::temp_directory_path() /
         ("ferrum-formats-" + std::to_string(::getpid()) + "-" + std::string(name));
}

}  // namespace ferrum
