// Feeds arbitrary bytes to the safetensors reader and reads every tensor it accepts.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "formats/safetensors_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto mapping = ferrum::MappedFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.safetensors");
  auto file = ferrum::SafetensorsFile::parse(mapping);
  if (!file) return 0;
  uint64_t sum = 0;
  for (const ferrum::SafetensorsTensorInfo& info : file->tensors()) {
    for (uint8_t byte : file->tensor_bytes(info)) sum = sum * 31 + byte;
    if (file->find_tensor(info.name) != &info) __builtin_trap();  // lookup must find what parse listed
  }
  for (const auto& [key, value] : file->metadata()) sum += key.size() + value.size();
  return sum == 1 ? 1 : 0;
}
