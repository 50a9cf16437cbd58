#include "fixture_files.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "core/half.h"

namespace ferrum::op_test {

std::string fixture_path(const std::string& relative) {
  return std::string(FERRUM_FIXTURES_DIR) + "/" + relative;
}

Expected<std::vector<uint8_t>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FERRUM_CHECK(in.good(), ErrorCode::kNotFound, "cannot open fixture ", path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Expected<const SafetensorsTensor*> SafetensorsFile::tensor(const std::string& name) const {
  const auto found = tensors.find(name);
  FERRUM_CHECK(found != tensors.end(), ErrorCode::kNotFound, "no tensor '", name, "' in the fixture");
  return &found->second;
}

Expected<SafetensorsFile> read_safetensors(const std::string& path) {
  FERRUM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file(path));
  FERRUM_CHECK(bytes.size() >= 8, ErrorCode::kParse, path, ": shorter than a safetensors header");
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  FERRUM_CHECK(header_size <= bytes.size() - 8, ErrorCode::kParse, path, ": header runs past the end");
  const size_t data_start = 8 + header_size;
  const auto header =
      nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + static_cast<std::ptrdiff_t>(data_start), nullptr, false);
  FERRUM_CHECK(header.is_object(), ErrorCode::kParse, path, ": header is not a JSON object");
  SafetensorsFile file;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [key, value] : entry.items()) file.metadata[key] = value.get<std::string>();
      continue;
    }
    SafetensorsTensor tensor;
    tensor.dtype = entry.at("dtype").get<std::string>();
    tensor.shape = entry.at("shape").get<std::vector<int64_t>>();
    const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
    FERRUM_CHECK(offsets.size() == 2 && offsets[0] <= offsets[1] && offsets[1] <= bytes.size() - data_start,
                 ErrorCode::kParse, path, ": tensor ", name, " has bad data_offsets");
    tensor.bytes.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_start + offsets[0]),
                        bytes.begin() + static_cast<std::ptrdiff_t>(data_start + offsets[1]));
    file.tensors[name] = std::move(tensor);
  }
  return file;
}

std::vector<float> tensor_floats(const SafetensorsTensor& tensor) {
  std::vector<float> values;
  if (tensor.dtype == "F32") {
    values.resize(tensor.bytes.size() / 4);
    std::memcpy(values.data(), tensor.bytes.data(), values.size() * 4);
  } else if (tensor.dtype == "F16") {
    values.resize(tensor.bytes.size() / 2);
    for (size_t i = 0; i < values.size(); ++i) {
      f16 half;
      std::memcpy(&half.bits, tensor.bytes.data() + 2 * i, 2);
      values[i] = to_float(half);
    }
  }
  return values;
}

std::vector<int32_t> tensor_ints(const SafetensorsTensor& tensor) {
  std::vector<int32_t> values(tensor.bytes.size() / 4);
  std::memcpy(values.data(), tensor.bytes.data(), values.size() * 4);
  return values;
}

}  // namespace ferrum::op_test
