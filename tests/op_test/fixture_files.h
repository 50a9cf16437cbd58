// Reading the reference data in ../shared/fixtures: whole files, and the tensors of a safetensors
// file (8-byte little-endian header length, a JSON header, then the raw little-endian data).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace ferrum::op_test {

std::string fixture_path(const std::string& relative);
Expected<std::vector<uint8_t>> read_file(const std::string& path);

struct SafetensorsTensor {
  std::string dtype;  // "F32", "F16", "I32", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

struct SafetensorsFile {
  std::map<std::string, SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;

  Expected<const SafetensorsTensor*> tensor(const std::string& name) const;
};

Expected<SafetensorsFile> read_safetensors(const std::string& path);

// The tensor's values as floats (F32 or F16) or ints (I32).
std::vector<float> tensor_floats(const SafetensorsTensor& tensor);
std::vector<int32_t> tensor_ints(const SafetensorsTensor& tensor);

}  // namespace ferrum::op_test
