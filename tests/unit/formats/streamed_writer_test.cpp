// Streamed writing (declare_tensor + write_streamed) produces the same files as writing from
// memory, and a producer that writes the wrong number of bytes is caught at its tensor.
#include <gtest/gtest.h>

#include <numeric>

#include "formats/byte_sink.h"
#include "formats/gguf_writer.h"
#include "formats/safetensors_writer.h"

namespace ferrum {
namespace {

std::vector<uint8_t> counting_bytes(size_t count, uint8_t start) {
  std::vector<uint8_t> bytes(count);
  std::iota(bytes.begin(), bytes.end(), start);
  return bytes;
}

TEST(StreamedWriter, GgufMatchesTheInMemoryFileAndChecksByteCounts) {
  const std::vector<uint8_t> a = counting_bytes(3 * 4 * 4, 1);  // f32 [3, 4]
  const std::vector<uint8_t> b = counting_bytes(34, 9);         // one Q8_0 block
  GgufWriter memory;
  memory.set_string("general.architecture", "llama");
  ASSERT_TRUE(memory.add_tensor("a", DType::kF32, Shape{3, 4}, a));
  ASSERT_TRUE(memory.add_tensor("b", DType::kQ8_0, Shape{32}, b));
  GgufWriter streamed;
  streamed.set_string("general.architecture", "llama");
  ASSERT_TRUE(streamed.declare_tensor("a", DType::kF32, Shape{3, 4}));
  ASSERT_TRUE(streamed.add_tensor("b", DType::kQ8_0, Shape{32}, b));  // declared and given may mix
  VectorSink sink;
  std::vector<size_t> asked;
  ASSERT_TRUE(streamed.write_streamed(sink, [&](size_t index, ByteSink& out) -> Status {
    asked.push_back(index);
    FERRUM_TRY(out.append({a.data(), 10}));  // in pieces, as a slice-by-slice producer writes
    return out.append({a.data() + 10, a.size() - 10});
  }));
  EXPECT_EQ(asked, std::vector<size_t>{0});
  EXPECT_EQ(sink.bytes(), *memory.to_bytes());

  auto unwritten = streamed.to_bytes();
  ASSERT_FALSE(unwritten);
  EXPECT_NE(unwritten.error().message().find("write_streamed"), std::string::npos);
  VectorSink short_sink;
  auto too_short = streamed.write_streamed(short_sink, [&](size_t, ByteSink& out) {
    return out.append({a.data(), 8});
  });
  ASSERT_FALSE(too_short);
  EXPECT_NE(too_short.error().message().find("'a'"), std::string::npos);
  VectorSink long_sink;
  const std::vector<uint8_t> too_many(a.size() + 1);
  EXPECT_FALSE(streamed.write_streamed(long_sink, [&](size_t, ByteSink& out) { return out.append(too_many); }));
}

TEST(StreamedWriter, SafetensorsMatchesTheInMemoryFile) {
  const std::vector<uint8_t> a = counting_bytes(2 * 3 * 2, 5);  // bf16 [2, 3]
  SafetensorsWriter memory;
  memory.set_metadata("format", "pt");
  ASSERT_TRUE(memory.add_tensor("w", DType::kBF16, Shape{2, 3}, a));
  SafetensorsWriter streamed;
  streamed.set_metadata("format", "pt");
  ASSERT_TRUE(streamed.declare_tensor("w", DType::kBF16, Shape{2, 3}));
  EXPECT_EQ(streamed.data_bytes(), a.size());
  VectorSink sink;
  ASSERT_TRUE(streamed.write_streamed(sink, [&](size_t, ByteSink& out) { return out.append(a); }));
  EXPECT_EQ(sink.bytes(), *memory.to_bytes());
}

}  // namespace
}  // namespace ferrum
