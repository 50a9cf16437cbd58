#include "formats/gguf_writer.h"

#include <gtest/gtest.h>

#include "unit/formats/temp_path.h"

#include <cstring>
#include <filesystem>
#include <random>

#include "core/half.h"
#include "formats/gguf_file.h"

namespace ferrum {
namespace {

Expected<GgufFile> parse_bytes(std::vector<uint8_t> bytes) {
  return GgufFile::parse(MappedFile::from_bytes(std::move(bytes), "test.gguf"));
}

// Offset of the first occurrence of `needle` in `bytes` (the tests patch bytes right after a name).
size_t find_bytes(const std::vector<uint8_t>& bytes, std::string_view needle) {
  auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  EXPECT_NE(it, bytes.end()) << needle;
  return static_cast<size_t>(it - bytes.begin());
}

// Overwrites the first occurrence of `from` with `to` (same length).
void rename_bytes(std::vector<uint8_t>& bytes, std::string_view from, std::string_view to) {
  ASSERT_EQ(from.size(), to.size());
  std::memcpy(bytes.data() + find_bytes(bytes, from), to.data(), to.size());
}

template <class T>
void poke(std::vector<uint8_t>& bytes, size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

std::vector<uint8_t> sequence_bytes(size_t count) {
  std::vector<uint8_t> bytes(count);
  for (size_t i = 0; i < count; ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 1);
  return bytes;
}

TEST(GgufWriter, RoundTripsEveryMetadataType) {
  GgufWriter writer;
  writer.set_u8("t.u8", 200);
  writer.set_i8("t.i8", -100);
  writer.set_u16("t.u16", 60000);
  writer.set_i16("t.i16", -30000);
  writer.set_u32("t.u32", 4000000000u);
  writer.set_i32("t.i32", -2000000000);
  writer.set_u64("t.u64", 18000000000000000000ull);
  writer.set_i64("t.i64", -9000000000000000000ll);
  writer.set_f32("t.f32", 0.125f);
  writer.set_f64("t.f64", 1e-300);
  writer.set_bool("t.bool", true);
  writer.set_string("t.string", std::string_view("h\0i", 3));
  const std::vector<float> floats = {1.5f, -2.0f, 3.25f};
  writer.set_array<float>("t.floats", floats);
  const std::vector<int32_t> ints = {-1, 0, 7};
  writer.set_array<int32_t>("t.ints", ints);
  const std::array<bool, 3> bools = {true, false, true};
  writer.set_array<bool>("t.bools", bools);
  const std::vector<std::string> strings = {"a", "", "\xe2\x82\xac"};
  writer.set_string_array("t.strings", strings);
  writer.set_array<uint64_t>("t.empty", std::span<const uint64_t>());
  const std::vector<uint16_t> inner_a = {1, 2};
  const std::vector<std::string> inner_b = {"x"};
  const std::vector<GgufArrayBuilder> inner = {GgufArrayBuilder::of<uint16_t>(inner_a),
                                               GgufArrayBuilder::of_strings(inner_b)};
  writer.set_array("t.nested", GgufArrayBuilder::of_arrays(inner));

  auto bytes = writer.to_bytes();
  ASSERT_TRUE(bytes) << bytes.error().to_string();
  auto file = parse_bytes(*bytes);
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->metadata().size(), 18u);
  EXPECT_EQ(file->metadata()[0].key, "t.u8");
  EXPECT_EQ(file->find("t.u8")->type(), GgufValueType::kU8);
  EXPECT_EQ(*file->get_uint("t.u8"), 200u);
  EXPECT_EQ(*file->get_int("t.i8"), -100);
  EXPECT_EQ(*file->get_uint("t.u16"), 60000u);
  EXPECT_EQ(*file->get_int("t.i16"), -30000);
  EXPECT_EQ(*file->get_uint("t.u32"), 4000000000u);
  EXPECT_EQ(*file->get_int("t.i32"), -2000000000);
  EXPECT_EQ(*file->get_uint("t.u64"), 18000000000000000000ull);
  EXPECT_FALSE(file->get_int("t.u64"));  // does not fit i64
  EXPECT_FALSE(file->get_uint("t.i8"));  // negative
  EXPECT_EQ(*file->get_int("t.i64"), -9000000000000000000ll);
  EXPECT_EQ(*file->get_float("t.f32"), 0.125);
  EXPECT_EQ(file->find("t.f32")->type(), GgufValueType::kF32);
  EXPECT_EQ(*file->get_float("t.f64"), 1e-300);
  EXPECT_EQ(*file->get_bool("t.bool"), true);
  EXPECT_EQ(*file->get_string("t.string"), std::string_view("h\0i", 3));
  EXPECT_EQ(*(*file->get_array("t.floats"))->to_vector<float>(), floats);
  EXPECT_EQ(*(*file->get_array("t.ints"))->to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 7}));
  EXPECT_FALSE((*file->get_array("t.ints"))->to_vector<uint32_t>());   // -1 does not fit
  EXPECT_FALSE((*file->get_array("t.floats"))->to_vector<int32_t>());  // no float -> int truncation
  EXPECT_EQ(*(*file->get_array("t.bools"))->to_vector<bool>(), (std::vector<bool>{true, false, true}));
  const GgufArray* read_strings = *file->get_array("t.strings");
  ASSERT_EQ(read_strings->size(), 3u);
  EXPECT_EQ(read_strings->strings()[2], "\xe2\x82\xac");
  EXPECT_TRUE((*file->get_array("t.empty"))->empty());
  const GgufArray* nested = *file->get_array("t.nested");
  ASSERT_EQ(nested->element_type(), GgufValueType::kArray);
  ASSERT_EQ(nested->arrays().size(), 2u);
  EXPECT_EQ(*nested->arrays()[0].to_vector<uint16_t>(), inner_a);
  EXPECT_EQ(nested->arrays()[1].strings()[0], "x");
  EXPECT_EQ(file->find("t.nested")->to_display_string(), "[[1, 2], [\"x\"]]");
  EXPECT_TRUE(file->tensors().empty());
}

TEST(GgufWriter, RoundTripsTensorsWithAlignment) {
  GgufWriter writer;
  writer.set_alignment(64);
  writer.set_string("general.architecture", "test");
  const std::vector<float> matrix = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(writer.add_tensor("m", TensorView(matrix.data(), DType::kF32, Shape{2, 3})));
  ASSERT_TRUE(writer.add_tensor("q", DType::kQ4_0, Shape{3, 64}, sequence_bytes(3 * 2 * 18)));
  ASSERT_TRUE(writer.add_tensor("h", DType::kBF16, Shape{5}, sequence_bytes(10)));
  ASSERT_TRUE(writer.add_tensor("cube", DType::kQ6_K, Shape{2, 1, 1, 256}, sequence_bytes(2 * 210)));

  const std::filesystem::path path = unique_temp_path("writer-test.gguf");
  ASSERT_TRUE(writer.write(path));
  auto file = GgufFile::open(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_EQ(file->alignment(), 64u);
  EXPECT_EQ(file->data_offset() % 64, 0u);
  ASSERT_EQ(file->tensors().size(), 4u);
  const GgufTensorInfo* m = file->find_tensor("m");
  EXPECT_EQ(m->shape, Shape({2, 3}));
  EXPECT_EQ(m->ggml_dims, (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(std::memcmp(file->tensor_view(*m).data(), matrix.data(), 24), 0);
  const GgufTensorInfo* q = file->find_tensor("q");
  EXPECT_EQ(q->dtype, DType::kQ4_0);
  EXPECT_EQ(q->shape, Shape({3, 64}));
  EXPECT_EQ(q->nbytes, 108u);
  EXPECT_EQ(q->offset, 64u);
  const std::vector<uint8_t> q_bytes = sequence_bytes(108);
  EXPECT_TRUE(std::equal(q_bytes.begin(), q_bytes.end(), file->tensor_bytes(*q).begin()));
  EXPECT_EQ(file->find_tensor("h")->offset % 64, 0u);
  EXPECT_EQ(file->find_tensor("cube")->shape, Shape({2, 1, 1, 256}));
  for (const GgufTensorInfo& info : file->tensors()) EXPECT_EQ(info.file_offset % 64, 0u) << info.name;
}

TEST(GgufWriter, RejectsBadInput) {
  GgufWriter writer;
  EXPECT_FALSE(writer.add_tensor("odd", DType::kQ4_0, Shape{2, 48}, sequence_bytes(100)));  // 48 % 32 != 0
  EXPECT_FALSE(writer.add_tensor("short", DType::kF32, Shape{4}, sequence_bytes(15)));
  EXPECT_FALSE(writer.add_tensor("bool", DType::kBool, Shape{4}, sequence_bytes(4)));  // not a GGUF type
  EXPECT_FALSE(writer.add_tensor("rank5", DType::kF32, Shape{1, 1, 1, 1, 1}, sequence_bytes(4)));
  ASSERT_TRUE(writer.add_tensor("x", DType::kF32, Shape{1}, sequence_bytes(4)));
  EXPECT_FALSE(writer.add_tensor("x", DType::kF32, Shape{1}, sequence_bytes(4)));
  writer.set_u32("k", 1);
  writer.set_string("k", "again");
  auto bytes = writer.to_bytes();
  ASSERT_FALSE(bytes);
  EXPECT_NE(bytes.error().message().find("'k' is set twice"), std::string::npos);

  GgufWriter bad_alignment;
  bad_alignment.set_alignment(48);
  EXPECT_FALSE(bad_alignment.to_bytes());
}

TEST(GgufWriter, WriteFailsInMissingDirectory) {
  GgufWriter writer;
  Status status = writer.write("/nonexistent-dir/x.gguf");
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message().find("/nonexistent-dir/x.gguf"), std::string::npos);
}

// A small valid file whose bytes the malformed-input tests patch.
std::vector<uint8_t> sample_file() {
  GgufWriter writer;
  writer.set_string("general.architecture", "llama");
  writer.set_u32("key.aaaa", 5);
  writer.set_u32("key.bbbb", 6);
  const std::vector<uint32_t> numbers = {1, 2, 3};
  writer.set_array<uint32_t>("key.array", numbers);
  EXPECT_TRUE(writer.add_tensor("tensor.one", DType::kF32, Shape{2, 8}, sequence_bytes(64)));
  EXPECT_TRUE(writer.add_tensor("tensor.two", DType::kF32, Shape{8}, sequence_bytes(32)));
  return *writer.to_bytes();
}

void expect_parse_error(std::vector<uint8_t> bytes, std::string_view fragment) {
  auto file = parse_bytes(std::move(bytes));
  ASSERT_FALSE(file) << "expected an error containing: " << fragment;
  EXPECT_NE(file.error().message().find(fragment), std::string::npos) << file.error().message();
  EXPECT_NE(file.error().message().find("test.gguf"), std::string::npos) << file.error().message();
}

TEST(GgufMalformed, SampleIsValid) {
  auto file = parse_bytes(sample_file());
  ASSERT_TRUE(file) << file.error().to_string();
  EXPECT_EQ(file->tensors().size(), 2u);
}

TEST(GgufMalformed, HeaderErrors) {
  std::vector<uint8_t> bytes = sample_file();
  bytes[0] = 'X';
  expect_parse_error(bytes, "not a GGUF file");

  bytes = sample_file();
  poke<uint32_t>(bytes, 4, 1);
  expect_parse_error(bytes, "version 1 is not supported");
  poke<uint32_t>(bytes, 4, 4);
  expect_parse_error(bytes, "version 4 is not supported");
  poke<uint32_t>(bytes, 4, 0x03000000);
  expect_parse_error(bytes, "big-endian");
  poke<uint32_t>(bytes, 4, 2);
  EXPECT_TRUE(parse_bytes(bytes)) << "version 2 has the same layout";

  bytes = sample_file();
  poke<uint64_t>(bytes, 8, uint64_t{1} << 60);
  expect_parse_error(bytes, "tensor count");
  bytes = sample_file();
  poke<uint64_t>(bytes, 16, ~uint64_t{0});
  expect_parse_error(bytes, "metadata count");
}

TEST(GgufMalformed, MetadataErrors) {
  std::vector<uint8_t> bytes = sample_file();
  rename_bytes(bytes, "key.bbbb", "key.aaaa");
  expect_parse_error(bytes, "duplicate metadata key 'key.aaaa'");

  bytes = sample_file();
  poke<uint32_t>(bytes, find_bytes(bytes, "key.aaaa") + 8, 13);
  expect_parse_error(bytes, "unknown value type 13");

  bytes = sample_file();
  const size_t array_count = find_bytes(bytes, "key.array") + 9 + 4 + 4;  // after type + element type
  poke<uint64_t>(bytes, array_count, uint64_t{1} << 61);
  expect_parse_error(bytes, "key 'key.array': array of 2305843009213693952 u32 elements");

  bytes = sample_file();
  poke<uint64_t>(bytes, find_bytes(bytes, "llama") - 8, 1000000);  // string length past the end
  expect_parse_error(bytes, "truncated: string value needs 1000000 bytes");
}

TEST(GgufMalformed, TensorErrors) {
  std::vector<uint8_t> bytes = sample_file();
  rename_bytes(bytes, "tensor.two", "tensor.one");
  expect_parse_error(bytes, "duplicate tensor name 'tensor.one'");

  // Layout after a tensor name: rank u32, dims u64..., type u32, offset u64.
  const size_t one = find_bytes(sample_file(), "tensor.one") + 10;
  bytes = sample_file();
  poke<uint32_t>(bytes, one, 5);
  expect_parse_error(bytes, "tensor 'tensor.one': has 5 dimensions");
  bytes = sample_file();
  poke<uint64_t>(bytes, one + 4, uint64_t{1} << 40);
  poke<uint64_t>(bytes, one + 12, uint64_t{1} << 40);
  expect_parse_error(bytes, "element count overflows");
  bytes = sample_file();
  poke<uint32_t>(bytes, one + 20, 16);
  expect_parse_error(bytes, "type IQ2_XXS (id 16), which ferrum does not support");
  bytes = sample_file();
  poke<uint32_t>(bytes, one + 20, 2);  // q4_0 rows of 8 values
  expect_parse_error(bytes, "not a whole number of 32-value q4_0 blocks");
  bytes = sample_file();
  poke<uint64_t>(bytes, one + 24, 4);
  expect_parse_error(bytes, "data offset 4 is not a multiple of the alignment 32");
  bytes = sample_file();
  poke<uint64_t>(bytes, one + 24, 1024);
  expect_parse_error(bytes, "extends past the end of the file");
  bytes = sample_file();
  poke<uint64_t>(bytes, one + 24, ~uint64_t{0} - 31);  // offset + size would wrap around
  expect_parse_error(bytes, "extends past the end of the file");
}

TEST(GgufMalformed, BadAlignmentAndNesting) {
  GgufWriter writer;
  writer.set_u32("general.alignment", 24);
  expect_parse_error(*writer.to_bytes(), "general.alignment is 24");

  GgufWriter strings_alignment;
  strings_alignment.set_string("general.alignment", "32");
  expect_parse_error(*strings_alignment.to_bytes(), "general.alignment");

  std::vector<GgufArrayBuilder> level = {GgufArrayBuilder::of<uint8_t>(std::vector<uint8_t>{1})};
  for (int depth = 0; depth < 4; ++depth) level = {GgufArrayBuilder::of_arrays(level)};
  GgufWriter deep;
  deep.set_array("deep", level[0]);
  expect_parse_error(*deep.to_bytes(), "nested deeper than 4");

  GgufWriter bad_bool;
  bad_bool.set_bool("flag", true);
  std::vector<uint8_t> bytes = *bad_bool.to_bytes();
  bytes.back() = 2;
  expect_parse_error(bytes, "bool value is 2");
}

TEST(GgufMalformed, RandomCorruptionNeverCrashes) {
  const std::vector<uint8_t> original = sample_file();
  std::mt19937 rng(1234);
  int accepted = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> bytes = original;
    const int flips = 1 + trial % 4;
    for (int i = 0; i < flips; ++i) {
      bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    }
    auto file = parse_bytes(std::move(bytes));
    if (!file) continue;
    ++accepted;
    for (const GgufTensorInfo& info : file->tensors()) {
      std::span<const uint8_t> data = file->tensor_bytes(info);
      ASSERT_LE(info.file_offset + data.size(), original.size());
    }
    for (const GgufKeyValue& entry : file->metadata()) (void)entry.value.to_display_string();
  }
  EXPECT_GT(accepted, 0);  // flips inside tensor data or string bytes are harmless
}

}  // namespace
}  // namespace ferrum
