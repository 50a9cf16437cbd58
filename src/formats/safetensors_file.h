// safetensors reader: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape (outermost-first) and [begin, end) byte range in the data section, then the data.
// The file is memory-mapped; tensor views point into the mapping. Every range is checked against
// the file size, the shape and the dtype before a view is handed out.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor_view.h"
#include "formats/mapped_file.h"

namespace ferrum {

// The spec caps the JSON header at 100 MB; larger values are corrupt files, not big models.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// safetensors dtype string ("BF16", "F8_E4M3", ...) <-> DType. Quantized DTypes have no name.
std::optional<DType> dtype_from_safetensors(std::string_view name);
std::optional<std::string_view> safetensors_dtype_name(DType dtype);

struct SafetensorsTensorInfo {
  std::string name;
  DType dtype;
  Shape shape;     // outermost-first
  uint64_t begin;  // data_offsets as stored, relative to the data section
  uint64_t end;
  uint64_t file_offset;  // absolute offset of the first byte
  size_t nbytes() const { return static_cast<size_t>(end - begin); }
};

class SafetensorsFile {
 public:
  static Expected<SafetensorsFile> open(const std::filesystem::path& path);
  static Expected<SafetensorsFile> parse(std::shared_ptr<const MappedFile> file);

  const std::string& path() const { return file_->name(); }
  const std::shared_ptr<const MappedFile>& mapping() const { return file_; }
  // Absolute offset of the data section (8 + header length).
  uint64_t data_offset() const { return data_offset_; }
  // The "__metadata__" string map (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Sorted by name.
  const std::vector<SafetensorsTensorInfo>& tensors() const { return tensors_; }
  const SafetensorsTensorInfo* find_tensor(std::string_view name) const;
  std::span<const uint8_t> tensor_bytes(const SafetensorsTensorInfo& info) const;
  // A contiguous view. safetensors does not align data: the pointer may not be aligned for the
  // dtype, so read elements with memcpy or check alignment before casting.
  TensorView tensor_view(const SafetensorsTensorInfo& info) const;

 private:
  friend class SafetensorsParser;
  SafetensorsFile() = default;

  std::shared_ptr<const MappedFile> file_;
  uint64_t data_offset_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsTensorInfo> tensors_;
};

}  // namespace ferrum
