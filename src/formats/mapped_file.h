// A read-only memory mapping of a whole file. Opening maps the file without reading it: pages are
// faulted in only when a tensor is touched, so a 16 GB checkpoint opens in microseconds.
// Mappings are shared (std::shared_ptr<const MappedFile>) so tensor views handed to a model can keep
// the file alive after the GgufFile / SafetensorsFile that opened it is gone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"

namespace ferrum {

class MappedFile {
 public:
  // Maps `path` read-only. An empty file gives an empty mapping.
  static Expected<std::shared_ptr<const MappedFile>> open(const std::filesystem::path& path);
  // Wraps bytes already in memory (fuzzers, tests, downloads held in RAM); `name` stands in for the
  // path in error messages.
  static std::shared_ptr<const MappedFile> from_bytes(std::vector<uint8_t> bytes, std::string name);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& name() const { return name_; }  // the path as given, for messages
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  MappedFile() = default;

  std::string name_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool is_mmap_ = false;        // data_ came from mmap and is released with munmap
  std::vector<uint8_t> owned_;  // backing store for from_bytes
};

}  // namespace ferrum
