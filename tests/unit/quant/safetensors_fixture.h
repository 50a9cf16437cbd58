// A test-only safetensors reader (header JSON + byte offsets) for the GPTQ / AWQ fixtures, so the
// quant tests do not depend on the formats module. It loads whole files into memory.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor_view.h"

namespace ferrum::quant_test {

struct FixtureTensor {
  DType dtype = DType::kU8;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  TensorView view() const;
  std::vector<float> as_floats() const;  // f32 tensors only
};

struct SafetensorsFixture {
  std::map<std::string, FixtureTensor> tensors;
  std::map<std::string, std::string> metadata;

  const FixtureTensor& at(const std::string& name) const;
};

// Reads fixtures/quant/<relative>; fails the current test on a malformed file.
SafetensorsFixture read_safetensors_fixture(const std::string& relative);

}  // namespace ferrum::quant_test
