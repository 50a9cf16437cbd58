// Reads the shared quantization fixtures (../shared/fixtures/quant) for the quant tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ferrum::quant_test {

// Absolute path of `relative` under fixtures/quant.
std::string quant_fixture_path(const std::string& relative);

// Whole file as bytes; fails the current test (and returns empty) when it cannot be read.
std::vector<uint8_t> read_fixture_bytes(const std::string& relative);

// Whole file as little-endian float32 values.
std::vector<float> read_fixture_floats(const std::string& relative);

}  // namespace ferrum::quant_test
