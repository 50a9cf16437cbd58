// Feeds arbitrary bytes to the GGUF reader and, when it accepts them, to everything that reads a
// parsed file: every metadata value, every tensor's bytes, the config and tokenizer summaries.
// ASan turns any read outside the input into a crash.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "formats/gguf_config.h"
#include "formats/gguf_file.h"
#include "formats/tokenizer_summary.h"

namespace {

uint64_t checksum(std::span<const uint8_t> bytes) {
  uint64_t sum = 0;
  for (uint8_t byte : bytes) sum = sum * 31 + byte;
  return sum;
}

void visit(const ferrum::GgufArray& array) {
  (void)array.to_vector<float>();
  (void)array.to_vector<int32_t>();
  (void)array.to_vector<uint64_t>();
  for (std::string_view text : array.strings())
    (void)checksum({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  for (const ferrum::GgufArray& inner : array.arrays()) visit(inner);
  (void)checksum(array.raw_bytes());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto mapping = ferrum::MappedFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
  auto file = ferrum::GgufFile::parse(mapping);
  if (!file) return 0;
  for (const ferrum::GgufKeyValue& entry : file->metadata()) {
    (void)entry.value.to_display_string(4);
    if (const ferrum::GgufArray* array = entry.value.as_array()) visit(*array);
  }
  for (const ferrum::GgufTensorInfo& info : file->tensors()) {
    (void)checksum(file->tensor_bytes(info));
    (void)file->tensor_view(info).nbytes();
  }
  (void)ferrum::config_from_gguf(*file);
  (void)ferrum::summarize_gguf_tokenizer(*file);
  return 0;
}
