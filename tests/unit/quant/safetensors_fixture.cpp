#include "unit/quant/safetensors_fixture.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "unit/quant/fixture_files.h"

namespace ferrum::quant_test {
namespace {

DType dtype_from_safetensors(const std::string& name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  if (name == "I32") return DType::kI32;
  if (name == "I64") return DType::kI64;
  throw std::runtime_error("unexpected safetensors dtype " + name);
}

}  // namespace

TensorView FixtureTensor::view() const {
  return TensorView(bytes.data(), dtype, Shape(std::span<const int64_t>(shape)));
}

std::vector<float> FixtureTensor::as_floats() const {
  EXPECT_EQ(dtype, DType::kF32);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

const FixtureTensor& SafetensorsFixture::at(const std::string& name) const {
  const auto found = tensors.find(name);
  if (found == tensors.end()) throw std::runtime_error("fixture has no tensor " + name);
  return found->second;
}

SafetensorsFixture read_safetensors_fixture(const std::string& relative) {
  const std::vector<uint8_t> file = read_fixture_bytes(relative);
  SafetensorsFixture fixture;
  uint64_t header_bytes = 0;
  if (file.size() < sizeof header_bytes) {
    ADD_FAILURE() << relative << " is too short for a safetensors header";
    return fixture;
  }
  std::memcpy(&header_bytes, file.data(), sizeof header_bytes);
  const size_t data_start = sizeof header_bytes + header_bytes;
  if (data_start > file.size()) {
    ADD_FAILURE() << relative << ": header length " << header_bytes << " runs past the file";
    return fixture;
  }
  const auto header = nlohmann::json::parse(file.begin() + sizeof header_bytes, file.begin() + data_start);
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [key, value] : entry.items()) fixture.metadata[key] = value.get<std::string>();
      continue;
    }
    FixtureTensor tensor;
    tensor.dtype = dtype_from_safetensors(entry.at("dtype").get<std::string>());
    tensor.shape = entry.at("shape").get<std::vector<int64_t>>();
    const auto offsets = entry.at("data_offsets").get<std::vector<size_t>>();
    if (offsets.size() != 2 || offsets[0] > offsets[1] || data_start + offsets[1] > file.size()) {
      ADD_FAILURE() << relative << ": bad data_offsets for " << name;
      continue;
    }
    tensor.bytes.assign(file.begin() + data_start + offsets[0], file.begin() + data_start + offsets[1]);
    fixture.tensors.emplace(name, std::move(tensor));
  }
  return fixture;
}

}  // namespace ferrum::quant_test
