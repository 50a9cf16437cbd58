// Tensors written by a producer (add_tensor with a TensorProducer) give the same files as tensors
// given as bytes, and a producer that writes the wrong number of bytes is caught at its tensor.
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

TEST(ProducedTensors, SafetensorsMatchesTheInMemoryFileAndChecksByteCounts) {
  const std::vector<uint8_t> a = counting_bytes(2 * 3 * 2, 5);  // bf16 [2, 3]
  const std::vector<uint8_t> b = counting_bytes(4, 50);         // u8 [4]
  SafetensorsWriter memory;
  memory.set_metadata("format", "pt");
  ASSERT_TRUE(memory.add_tensor("w", DType::kBF16, Shape{2, 3}, a));
  ASSERT_TRUE(memory.add_tensor("b", DType::kU8, Shape{4}, b));
  SafetensorsWriter produced;
  produced.set_metadata("format", "pt");
  ASSERT_TRUE(produced.add_tensor("w", DType::kBF16, Shape{2, 3}, [&](ByteSink& sink) -> Status {
    FERRUM_TRY(sink.append({a.data(), 5}));  // in pieces, as a slice-by-slice producer writes
    return sink.append({a.data() + 5, a.size() - 5});
  }));
  ASSERT_TRUE(produced.add_tensor("b", DType::kU8, Shape{4}, b));  // produced and given may mix
  EXPECT_EQ(produced.data_bytes(), a.size() + b.size());
  EXPECT_EQ(*produced.to_bytes(), *memory.to_bytes());

  SafetensorsWriter short_producer;
  ASSERT_TRUE(short_producer.add_tensor("w", DType::kBF16, Shape{2, 3}, [&](ByteSink& sink) {
    return sink.append({a.data(), 4});
  }));
  auto too_short = short_producer.to_bytes();
  ASSERT_FALSE(too_short);
  EXPECT_NE(too_short.error().message().find("'w'"), std::string::npos);
  SafetensorsWriter long_producer;
  const std::vector<uint8_t> too_many(a.size() + 1);
  ASSERT_TRUE(
      long_producer.add_tensor("w", DType::kBF16, Shape{2, 3}, [&](ByteSink& sink) { return sink.append(too_many); }));
  EXPECT_FALSE(long_producer.to_bytes());
}

TEST(ProducedTensors, GgufProducerWritingTooMuchIsStoppedAtItsTensor) {
  GgufWriter writer;
  const std::vector<uint8_t> too_many(3 * 4 * 4 + 1);
  ASSERT_TRUE(writer.add_tensor("a", DType::kF32, Shape{3, 4}, [&](ByteSink& sink) { return sink.append(too_many); }));
  auto bytes = writer.to_bytes();
  ASSERT_FALSE(bytes);
  EXPECT_NE(bytes.error().message().find("GGUF tensor 'a'"), std::string::npos);
}

}  // namespace
}  // namespace ferrum
