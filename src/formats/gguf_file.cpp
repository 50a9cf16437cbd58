#include "formats/gguf_file.h"

#include <array>
#include <limits>

#include "formats/byte_cursor.h"

namespace ferrum {
namespace {

// Nested arrays are legal but rare; the cap keeps a hostile file from exhausting the stack.
constexpr int kMaxArrayNesting = 4;
// The specification caps keys at 65535 bytes.
constexpr uint64_t kMaxKeyBytes = 65535;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;
// Fewest bytes one record can take, to reject counts the rest of the file cannot hold before
// reserving memory for them: key (8-byte length + 1) + type (4) + a u8 value (1).
constexpr uint64_t kMinKeyValueBytes = 14;
// Name (8-byte length + 1) + dim count (4) + one dim (8) + type (4) + offset (8).
constexpr uint64_t kMinTensorInfoBytes = 33;

bool is_power_of_two(uint64_t value) {
  return value != 0 && (value & (value - 1)) == 0;
}

}  // namespace

// Reads the header, metadata and tensor infos into a GgufFile. A friend of GgufFile and GgufArray.
class GgufParser {
 public:
  explicit GgufParser(std::shared_ptr<const MappedFile> file) : cursor_(file->bytes()) { out_.file_ = std::move(file); }

  Expected<GgufFile> run() {
    FERRUM_TRY(read_header());
    FERRUM_TRY(read_metadata());
    FERRUM_TRY(read_alignment());
    FERRUM_TRY(read_tensor_infos());
    FERRUM_TRY(place_tensor_data());
    return std::move(out_);
  }

 private:
  Status read_header() {
    FERRUM_ASSIGN_OR_RETURN(const uint32_t magic, cursor_.read<uint32_t>("magic"));
    FERRUM_CHECK(magic == kGgufMagic, ErrorCode::kParse, "not a GGUF file (magic bytes 0x", std::hex, magic,
                 ", expected 0x", kGgufMagic, " \"GGUF\")");
    FERRUM_ASSIGN_OR_RETURN(out_.version_, cursor_.read<uint32_t>("version"));
    const uint32_t version = out_.version_;
    const uint32_t swapped = __builtin_bswap32(version);
    FERRUM_CHECK(!(swapped >= 1 && swapped <= 3), ErrorCode::kUnsupported, "big-endian GGUF (version ", swapped,
                 ") is not supported");
    FERRUM_CHECK(version != 1, ErrorCode::kUnsupported,
                 "GGUF version 1 is not supported (it predates 64-bit counts); re-convert the model");
    FERRUM_CHECK(version == 2 || version == 3, ErrorCode::kUnsupported, "GGUF version ", version,
                 " is not supported (ferrum reads versions 2 and 3)");
    FERRUM_ASSIGN_OR_RETURN(tensor_count_, cursor_.read<uint64_t>("tensor count"));
    FERRUM_ASSIGN_OR_RETURN(kv_count_, cursor_.read<uint64_t>("metadata count"));
    FERRUM_CHECK(kv_count_ <= cursor_.remaining() / kMinKeyValueBytes, ErrorCode::kParse, "metadata count ", kv_count_,
                 " cannot fit in the ", cursor_.remaining(), " bytes that follow the header");
    FERRUM_CHECK(tensor_count_ <= cursor_.remaining() / kMinTensorInfoBytes, ErrorCode::kParse, "tensor count ",
                 tensor_count_, " cannot fit in the ", cursor_.remaining(), " bytes that follow the header");
    return ok();
  }

  Status read_metadata() {
    out_.metadata_.reserve(kv_count_);
    out_.metadata_index_.reserve(kv_count_);
    for (uint64_t i = 0; i < kv_count_; ++i) {
      FERRUM_ASSIGN_OR_RETURN(const std::string_view key, cursor_.read_string("metadata key"));
      FERRUM_CHECK(!key.empty() && key.size() <= kMaxKeyBytes, ErrorCode::kParse, "metadata entry ", i,
                   " has a key of ", key.size(), " bytes (allowed: 1 to ", kMaxKeyBytes, ")");
      auto parsed = read_typed_value(0);
      if (!parsed) return std::move(parsed).error().with_context(cat("metadata key '", key, "'"));
      const bool inserted = out_.metadata_index_.emplace(key, out_.metadata_.size()).second;
      FERRUM_CHECK(inserted, ErrorCode::kParse, "duplicate metadata key '", key, "'");
      out_.metadata_.push_back({key, std::move(parsed).value()});
    }
    return ok();
  }

  Expected<GgufValue> read_typed_value(int depth) {
    FERRUM_ASSIGN_OR_RETURN(const uint32_t type_id, cursor_.read<uint32_t>("value type"));
    FERRUM_CHECK(is_valid_gguf_value_type(type_id), ErrorCode::kParse, "unknown value type ", type_id);
    return read_value(static_cast<GgufValueType>(type_id), depth);
  }

  Expected<GgufValue> read_value(GgufValueType type, int depth) {
    switch (type) {
      case GgufValueType::kU8: return read_uint<uint8_t>(type);
      case GgufValueType::kU16: return read_uint<uint16_t>(type);
      case GgufValueType::kU32: return read_uint<uint32_t>(type);
      case GgufValueType::kU64: return read_uint<uint64_t>(type);
      case GgufValueType::kI8: return read_int<int8_t>(type);
      case GgufValueType::kI16: return read_int<int16_t>(type);
      case GgufValueType::kI32: return read_int<int32_t>(type);
      case GgufValueType::kI64: return read_int<int64_t>(type);
      case GgufValueType::kF32: {
        FERRUM_ASSIGN_OR_RETURN(const float value, cursor_.read<float>("f32 value"));
        return GgufValue::from_float(type, value);
      }
      case GgufValueType::kF64: {
        FERRUM_ASSIGN_OR_RETURN(const double value, cursor_.read<double>("f64 value"));
        return GgufValue::from_float(type, value);
      }
      case GgufValueType::kBool: {
        FERRUM_ASSIGN_OR_RETURN(const uint8_t value, cursor_.read<uint8_t>("bool value"));
        FERRUM_CHECK(value <= 1, ErrorCode::kParse, "bool value is ", int{value}, ", expected 0 or 1");
        return GgufValue::from_bool(value != 0);
      }
      case GgufValueType::kString: {
        FERRUM_ASSIGN_OR_RETURN(const std::string_view value, cursor_.read_string("string value"));
        return GgufValue::from_string(value);
      }
      case GgufValueType::kArray: {
        FERRUM_ASSIGN_OR_RETURN(GgufArray array, read_array(depth));
        return GgufValue::from_array(std::move(array));
      }
    }
    return make_error(ErrorCode::kInternal, "unhandled GGUF value type");
  }

  template <class T>
  Expected<GgufValue> read_uint(GgufValueType type) {
    FERRUM_ASSIGN_OR_RETURN(const T value, cursor_.read<T>("integer value"));
    return GgufValue::from_uint(type, value);
  }

  template <class T>
  Expected<GgufValue> read_int(GgufValueType type) {
    FERRUM_ASSIGN_OR_RETURN(const T value, cursor_.read<T>("integer value"));
    return GgufValue::from_int(type, value);
  }

  Expected<GgufArray> read_array(int depth) {
    FERRUM_CHECK(depth < kMaxArrayNesting, ErrorCode::kLimitExceeded, "arrays nested deeper than ", kMaxArrayNesting,
                 " levels");
    FERRUM_ASSIGN_OR_RETURN(const uint32_t type_id, cursor_.read<uint32_t>("array element type"));
    FERRUM_CHECK(is_valid_gguf_value_type(type_id), ErrorCode::kParse, "unknown array element type ", type_id);
    FERRUM_ASSIGN_OR_RETURN(const uint64_t count, cursor_.read<uint64_t>("array length"));
    GgufArray array;
    array.element_type_ = static_cast<GgufValueType>(type_id);
    array.size_ = count;
    // Every element takes at least `min_bytes`: a count the remaining bytes cannot hold is rejected
    // here, before anything is reserved.
    const size_t element_bytes = gguf_value_type_size(array.element_type_);
    const uint64_t min_bytes = element_bytes != 0                              ? element_bytes
                               : array.element_type_ == GgufValueType::kString ? 8
                                                                               : 12;
    FERRUM_CHECK(count <= cursor_.remaining() / min_bytes, ErrorCode::kParse, "array of ", count, " ",
                 gguf_value_type_name(array.element_type_), " elements needs at least ", min_bytes,
                 " bytes each, but only ", cursor_.remaining(), " bytes remain at byte ", cursor_.offset());
    if (array.element_type_ == GgufValueType::kString) {
      array.strings_.reserve(count);
      for (uint64_t i = 0; i < count; ++i) {
        auto text = cursor_.read_string("array string");
        if (!text) return std::move(text).error().with_context(cat("element ", i));
        array.strings_.push_back(*text);
      }
    } else if (array.element_type_ == GgufValueType::kArray) {
      array.arrays_.reserve(count);
      for (uint64_t i = 0; i < count; ++i) {
        auto inner = read_array(depth + 1);
        if (!inner) return std::move(inner).error().with_context(cat("element ", i));
        array.arrays_.push_back(std::move(inner).value());
      }
    } else {
      FERRUM_ASSIGN_OR_RETURN(array.raw_, cursor_.read_bytes(count * element_bytes, "array elements"));
    }
    return array;
  }

  Status read_alignment() {
    const GgufValue* value = out_.find("general.alignment");
    if (value == nullptr) return ok();
    const std::optional<uint64_t> alignment = value->as_uint();
    FERRUM_CHECK(alignment && is_power_of_two(*alignment) && *alignment <= kMaxAlignment, ErrorCode::kParse,
                 "general.alignment is ", value->to_display_string(), " (", gguf_value_type_name(value->type()),
                 "); expected a power of two up to ", kMaxAlignment);
    out_.alignment_ = static_cast<size_t>(*alignment);
    return ok();
  }

  Status read_tensor_infos() {
    out_.tensors_.reserve(tensor_count_);
    out_.tensor_index_.reserve(tensor_count_);
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      FERRUM_ASSIGN_OR_RETURN(const std::string_view name, cursor_.read_string("tensor name"));
      FERRUM_CHECK(!name.empty(), ErrorCode::kParse, "tensor ", i, " has an empty name");
      auto info = read_tensor_info(name);
      if (!info) return std::move(info).error().with_context(cat("tensor '", name, "'"));
      const bool inserted = out_.tensor_index_.emplace(name, out_.tensors_.size()).second;
      FERRUM_CHECK(inserted, ErrorCode::kParse, "duplicate tensor name '", name, "'");
      out_.tensors_.push_back(std::move(info).value());
    }
    return ok();
  }

  Expected<GgufTensorInfo> read_tensor_info(std::string_view name) {
    GgufTensorInfo info{};
    info.name = name;
    FERRUM_ASSIGN_OR_RETURN(const uint32_t rank, cursor_.read<uint32_t>("dimension count"));
    FERRUM_CHECK(rank >= 1 && rank <= kGgufMaxDims, ErrorCode::kParse, "has ", rank, " dimensions (allowed: 1 to ",
                 kGgufMaxDims, ")");
    info.ggml_dims.resize(rank);
    std::array<int64_t, kGgufMaxDims> outermost_first{};
    for (uint32_t axis = 0; axis < rank; ++axis) {
      FERRUM_ASSIGN_OR_RETURN(const uint64_t dim, cursor_.read<uint64_t>("dimension"));
      FERRUM_CHECK(dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), ErrorCode::kParse, "dimension ",
                   axis, " is ", dim, ", too large");
      info.ggml_dims[axis] = dim;
      outermost_first[rank - 1 - axis] = static_cast<int64_t>(dim);
    }
    info.shape = Shape(std::span<const int64_t>(outermost_first.data(), rank));
    const std::optional<int64_t> numel = Shape::checked_numel(info.shape.dims());
    FERRUM_CHECK(numel.has_value(), ErrorCode::kParse, "element count overflows for shape ", info.shape.to_string());

    FERRUM_ASSIGN_OR_RETURN(info.ggml_type, cursor_.read<uint32_t>("tensor type"));
    const std::optional<DType> dtype = dtype_from_ggml_type(info.ggml_type);
    FERRUM_CHECK(dtype.has_value(), ErrorCode::kUnsupported, "has type ", ggml_type_name(info.ggml_type), " (id ",
                 info.ggml_type, "), which ferrum does not support");
    info.dtype = *dtype;
    const size_t block_elems = dtype_info(info.dtype).block_elems;
    FERRUM_CHECK(info.ggml_dims[0] % block_elems == 0, ErrorCode::kParse, "rows of ", info.ggml_dims[0],
                 " values are not a whole number of ", block_elems, "-value ", dtype_name(info.dtype), " blocks");
    FERRUM_ASSIGN_OR_RETURN(info.nbytes, dtype_bytes(info.dtype, static_cast<size_t>(*numel)));

    FERRUM_ASSIGN_OR_RETURN(info.offset, cursor_.read<uint64_t>("tensor data offset"));
    FERRUM_CHECK(info.offset % out_.alignment_ == 0, ErrorCode::kParse, "data offset ", info.offset,
                 " is not a multiple of the alignment ", out_.alignment_);
    return info;
  }

  Status place_tensor_data() {
    const uint64_t end_of_infos = cursor_.offset();
    const uint64_t alignment = out_.alignment_;
    out_.data_offset_ = (end_of_infos + alignment - 1) / alignment * alignment;
    const uint64_t file_size = out_.file_->size();
    if (out_.tensors_.empty()) return ok();  // vocabulary-only files may end right after the infos
    FERRUM_CHECK(out_.data_offset_ <= file_size, ErrorCode::kParse, "tensor data section would start at byte ",
                 out_.data_offset_, ", past the end of the ", file_size, "-byte file");
    const uint64_t data_size = file_size - out_.data_offset_;
    for (GgufTensorInfo& info : out_.tensors_) {
      FERRUM_CHECK(info.offset <= data_size && info.nbytes <= data_size - info.offset, ErrorCode::kOutOfRange,
                   "tensor '", info.name, "' (", dtype_name(info.dtype), " ", info.shape.to_string(), ", ", info.nbytes,
                   " bytes at data offset ", info.offset, ") extends past the end of the file (", data_size,
                   " bytes of tensor data)");
      info.file_offset = out_.data_offset_ + info.offset;
    }
    return ok();
  }

  GgufFile out_;
  ByteCursor cursor_;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
};

Expected<GgufFile> GgufFile::open(const std::filesystem::path& path) {
  FERRUM_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::open(path));
  return parse(std::move(file));
}

Expected<GgufFile> GgufFile::parse(std::shared_ptr<const MappedFile> file) {
  const std::string name = file->name();
  auto parsed = GgufParser(std::move(file)).run();
  if (!parsed) return std::move(parsed).error().with_context(name);
  return parsed;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

namespace {

Error missing_key(const GgufFile& file, std::string_view key) {
  return make_error(ErrorCode::kNotFound, file.path(), ": metadata key '", key, "' is missing");
}

Error wrong_type(const GgufFile& file, std::string_view key, const GgufValue& value, std::string_view wanted) {
  return make_error(ErrorCode::kInvalidArgument, file.path(), ": metadata key '", key, "' is ",
                    gguf_value_type_name(value.type()), " ", value.to_display_string(4), ", expected ", wanted);
}

}  // namespace

Expected<std::string_view> GgufFile::get_string(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return missing_key(*this, key);
  if (auto text = value->as_string()) return *text;
  return wrong_type(*this, key, *value, "a string");
}

Expected<uint64_t> GgufFile::get_uint(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return missing_key(*this, key);
  if (auto number = value->as_uint()) return *number;
  return wrong_type(*this, key, *value, "a non-negative integer");
}

Expected<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return missing_key(*this, key);
  if (auto number = value->as_int()) return *number;
  return wrong_type(*this, key, *value, "an integer");
}

Expected<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return missing_key(*this, key);
  if (auto number = value->as_double()) return *number;
  return wrong_type(*this, key, *value, "a number");
}

Expected<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return missing_key(*this, key);
  if (auto flag = value->as_bool()) return *flag;
  return wrong_type(*this, key, *value, "a bool");
}

Expected<const GgufArray*> GgufFile::get_array(std::string_view key) const {
  const GgufValue* value = find(key);
  if (value == nullptr) return missing_key(*this, key);
  if (const GgufArray* array = value->as_array()) return array;
  return wrong_type(*this, key, *value, "an array");
}

Expected<std::string_view> GgufFile::get_string_or(std::string_view key, std::string_view fallback) const {
  return find(key) == nullptr ? Expected<std::string_view>(fallback) : get_string(key);
}

Expected<uint64_t> GgufFile::get_uint_or(std::string_view key, uint64_t fallback) const {
  return find(key) == nullptr ? Expected<uint64_t>(fallback) : get_uint(key);
}

Expected<double> GgufFile::get_float_or(std::string_view key, double fallback) const {
  return find(key) == nullptr ? Expected<double>(fallback) : get_float(key);
}

Expected<bool> GgufFile::get_bool_or(std::string_view key, bool fallback) const {
  return find(key) == nullptr ? Expected<bool>(fallback) : get_bool(key);
}

std::string_view GgufFile::architecture() const {
  const GgufValue* value = find("general.architecture");
  return value != nullptr ? value->as_string().value_or("") : "";
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GgufFile::tensor_bytes(const GgufTensorInfo& info) const {
  return file_->bytes().subspan(info.file_offset, info.nbytes);
}

TensorView GgufFile::tensor_view(const GgufTensorInfo& info) const {
  return TensorView(file_->data() + info.file_offset, info.dtype, info.shape);
}

}  // namespace ferrum
