// GGUF reader (format versions 2 and 3): metadata, tensor infos and zero-copy tensor views into a
// memory mapping of the file.
//
// Dimension order: GGUF stores a tensor's dims innermost-first (ne[0] is the contiguous axis, so a
// [rows, cols] matrix is stored as ne = {cols, rows}). GgufTensorInfo::shape is outermost-first, as
// in PyTorch, safetensors and ferrum's Shape: the reader reverses the stored dims. `ggml_dims` keeps
// the order as stored for tools that want to print it.
//
// Every offset, length and count in the file is checked against the file size before it is used;
// malformed files give an Error naming the file and the problem.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor_view.h"
#include "formats/gguf_value.h"
#include "formats/mapped_file.h"

namespace ferrum {

struct GgufTensorInfo {
  std::string_view name;  // view into the mapping
  DType dtype;
  uint32_t ggml_type;               // the type id as stored
  Shape shape;                      // outermost-first (reversed from the file's order)
  std::vector<uint64_t> ggml_dims;  // innermost-first, as stored
  uint64_t offset;                  // relative to the start of the data section, as stored
  uint64_t file_offset;             // absolute byte offset in the file
  size_t nbytes;
};

class GgufFile {
 public:
  static Expected<GgufFile> open(const std::filesystem::path& path);
  // Parses an existing mapping (or bytes wrapped with MappedFile::from_bytes).
  static Expected<GgufFile> parse(std::shared_ptr<const MappedFile> file);

  const std::string& path() const { return file_->name(); }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  // Absolute file offset where tensor data begins.
  uint64_t data_offset() const { return data_offset_; }
  const std::shared_ptr<const MappedFile>& mapping() const { return file_; }

  // Metadata in file order.
  const std::vector<GgufKeyValue>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;

  // Typed getters. Errors name the key, the file and the stored type. Integer getters accept any
  // integer type whose value fits (writers disagree on u32 vs i32 vs u64); get_float accepts f32,
  // f64 and integers.
  Expected<std::string_view> get_string(std::string_view key) const;
  Expected<uint64_t> get_uint(std::string_view key) const;
  Expected<int64_t> get_int(std::string_view key) const;
  Expected<double> get_float(std::string_view key) const;
  Expected<bool> get_bool(std::string_view key) const;
  Expected<const GgufArray*> get_array(std::string_view key) const;
  // Like the above, but a missing key gives `fallback`; a key of the wrong type is still an error.
  Expected<std::string_view> get_string_or(std::string_view key, std::string_view fallback) const;
  Expected<uint64_t> get_uint_or(std::string_view key, uint64_t fallback) const;
  Expected<double> get_float_or(std::string_view key, double fallback) const;
  Expected<bool> get_bool_or(std::string_view key, bool fallback) const;
  // general.architecture, or "" when absent.
  std::string_view architecture() const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // The tensor's bytes in the mapping (valid while mapping() is alive).
  std::span<const uint8_t> tensor_bytes(const GgufTensorInfo& info) const;
  TensorView tensor_view(const GgufTensorInfo& info) const;

 private:
  friend class GgufParser;
  GgufFile() = default;

  std::shared_ptr<const MappedFile> file_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> metadata_;
  std::unordered_map<std::string_view, size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace ferrum
