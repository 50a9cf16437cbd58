#include "unit/quant/fixture_files.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

namespace ferrum::quant_test {

std::string quant_fixture_path(const std::string& relative) {
  return std::string(FERRUM_FIXTURES_DIR) + "/quant/" + relative;
}

std::vector<uint8_t> read_fixture_bytes(const std::string& relative) {
  const std::string path = quant_fixture_path(relative);
  std::ifstream file(path, std::ios::binary);
  EXPECT_TRUE(file.good()) << "cannot open fixture " << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

std::vector<float> read_fixture_floats(const std::string& relative) {
  const std::vector<uint8_t> bytes = read_fixture_bytes(relative);
  EXPECT_EQ(bytes.size() % sizeof(float), 0u) << relative;
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

}  // namespace ferrum::quant_test
