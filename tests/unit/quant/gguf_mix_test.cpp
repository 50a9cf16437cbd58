// Decodes every tensor of fixtures/quant/gguf/quant-mix.gguf through a minimal, test-only GGUF v3
// reader (the real reader belongs to the formats module) and checks each against ggml's output.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/half.h"
#include "quant/dequantize.h"
#include "unit/quant/fixture_files.h"

namespace ferrum {
namespace {

struct GgufTensorInfo {
  std::vector<uint64_t> dims;  // ne: dims[0] is the fastest-varying
  uint32_t ggml_type = 0;
  uint64_t offset = 0;  // within the data section
};

class ByteCursor {
 public:
  explicit ByteCursor(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  template <class T>
  T read() {
    if (position_ + sizeof(T) > bytes_.size()) throw std::runtime_error("gguf: read past the end");
    T value;
    std::memcpy(&value, bytes_.data() + position_, sizeof value);
    position_ += sizeof value;
    return value;
  }
  std::string read_string() {
    const auto length = read<uint64_t>();
    if (position_ + length > bytes_.size()) throw std::runtime_error("gguf: string past the end");
    std::string text(reinterpret_cast<const char*>(bytes_.data() + position_), length);
    position_ += length;
    return text;
  }
  // Skips one metadata value of GGUF value type `type`; returns it when it is an unsigned integer.
  uint64_t skip_value(uint32_t type) {
    switch (type) {
      case 0:
      case 1:
      case 7: return read<uint8_t>();
      case 2:
      case 3: return read<uint16_t>();
      case 4:
      case 5:
      case 6: return read<uint32_t>();
      case 10:
      case 11:
      case 12: return read<uint64_t>();
      case 8: read_string(); return 0;
      case 9: {
        const auto item_type = read<uint32_t>();
        const auto count = read<uint64_t>();
        for (uint64_t i = 0; i < count; ++i) skip_value(item_type);
        return 0;
      }
      default: throw std::runtime_error("gguf: unknown value type " + std::to_string(type));
    }
  }
  size_t position() const { return position_; }

 private:
  const std::vector<uint8_t>& bytes_;
  size_t position_ = 0;
};

DType dtype_from_ggml(uint32_t ggml_type) {
  switch (ggml_type) {
    case 0: return DType::kF32;
    case 1: return DType::kF16;
    case 2: return DType::kQ4_0;
    case 3: return DType::kQ4_1;
    case 6: return DType::kQ5_0;
    case 7: return DType::kQ5_1;
    case 8: return DType::kQ8_0;
    case 10: return DType::kQ2_K;
    case 11: return DType::kQ3_K;
    case 12: return DType::kQ4_K;
    case 13: return DType::kQ5_K;
    case 14: return DType::kQ6_K;
    default: throw std::runtime_error("gguf: unexpected ggml type " + std::to_string(ggml_type));
  }
}

TEST(GgufMix, EveryTensorDecodesToGgmlsValues) {
  const std::vector<uint8_t> file = quant_test::read_fixture_bytes("gguf/quant-mix.gguf");
  ByteCursor cursor(file);
  ASSERT_EQ(cursor.read<uint32_t>(), 0x46554747u);  // "GGUF"
  ASSERT_EQ(cursor.read<uint32_t>(), 3u);
  const auto tensor_count = cursor.read<uint64_t>();
  const auto kv_count = cursor.read<uint64_t>();
  uint64_t alignment = 32;
  for (uint64_t i = 0; i < kv_count; ++i) {
    const std::string key = cursor.read_string();
    const uint64_t value = cursor.skip_value(cursor.read<uint32_t>());
    if (key == "general.alignment") alignment = value;
  }
  std::map<std::string, GgufTensorInfo> tensors;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    const std::string name = cursor.read_string();
    GgufTensorInfo info;
    info.dims.resize(cursor.read<uint32_t>());
    for (uint64_t& dim : info.dims) dim = cursor.read<uint64_t>();
    info.ggml_type = cursor.read<uint32_t>();
    info.offset = cursor.read<uint64_t>();
    tensors[name] = info;
  }
  const size_t data_start = (cursor.position() + alignment - 1) / alignment * alignment;
  ASSERT_EQ(data_start, 832u);
  ASSERT_EQ(tensors.size(), 11u);

  const std::map<std::string, std::string> expected_files = {
      {"w.f32", "input.f32"},          {"w.q4_0", "Q4_0.expected.f32"}, {"w.q4_1", "Q4_1.expected.f32"},
      {"w.q5_0", "Q5_0.expected.f32"}, {"w.q5_1", "Q5_1.expected.f32"}, {"w.q8_0", "Q8_0.expected.f32"},
      {"w.q2_k", "Q2_K.expected.f32"}, {"w.q3_k", "Q3_K.expected.f32"}, {"w.q4_k", "Q4_K.expected.f32"},
      {"w.q5_k", "Q5_K.expected.f32"}, {"w.q6_k", "Q6_K.expected.f32"},
  };
  for (const auto& [name, expected_file] : expected_files) {
    SCOPED_TRACE(name);
    ASSERT_EQ(tensors.count(name), 1u);
    const GgufTensorInfo& info = tensors.at(name);
    ASSERT_EQ(info.dims, (std::vector<uint64_t>{512, 4}));
    const DType type = dtype_from_ggml(info.ggml_type);
    const size_t cols = info.dims[0], rows = info.dims[1];
    const size_t row_bytes = row_bytes_unchecked(type, cols);
    ASSERT_LE(data_start + info.offset + rows * row_bytes, file.size());
    const std::vector<float> expected = quant_test::read_fixture_floats("gguf/" + expected_file);
    std::vector<float> decoded(rows * cols);
    for (size_t row = 0; row < rows; ++row) {
      dequantize_row(type, file.data() + data_start + info.offset + row * row_bytes, decoded.data() + row * cols, cols);
    }
    size_t differing = 0;
    for (size_t i = 0; i < decoded.size(); ++i) differing += float_bits(decoded[i]) != float_bits(expected[i]);
    EXPECT_EQ(differing, 0u) << " values differ from " << expected_file;
  }
}

}  // namespace
}  // namespace ferrum
