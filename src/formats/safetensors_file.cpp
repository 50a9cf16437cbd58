#include "formats/safetensors_file.h"

#include <algorithm>
#include <array>

#include "formats/byte_cursor.h"
#include "formats/json_file.h"

namespace ferrum {
namespace {

struct SafetensorsDType {
  std::string_view name;
  std::optional<DType> dtype;  // nullopt: a dtype of the spec that ferrum cannot hold
};

constexpr std::array<SafetensorsDType, 18> kDTypes = {{
    {"F64", DType::kF64},
    {"F32", DType::kF32},
    {"F16", DType::kF16},
    {"BF16", DType::kBF16},
    {"F8_E4M3", DType::kF8E4M3},
    {"I64", DType::kI64},
    {"I32", DType::kI32},
    {"I16", DType::kI16},
    {"I8", DType::kI8},
    {"U8", DType::kU8},
    {"BOOL", DType::kBool},
    {"F8_E5M2", std::nullopt},
    {"F8_E8M0", std::nullopt},
    {"F6_E2M3", std::nullopt},
    {"F6_E3M2", std::nullopt},
    {"F4", std::nullopt},
    {"U16", std::nullopt},
    {"U32", std::nullopt},
}};

// An unsigned integer JSON value (shape dim, offset) or nullopt.
std::optional<uint64_t> as_u64(const nlohmann::json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  return std::nullopt;
}

}  // namespace

std::optional<DType> dtype_from_safetensors(std::string_view name) {
  for (const SafetensorsDType& entry : kDTypes) {
    if (entry.name == name) return entry.dtype;
  }
  return std::nullopt;
}

std::optional<std::string_view> safetensors_dtype_name(DType dtype) {
  for (const SafetensorsDType& entry : kDTypes) {
    if (entry.dtype == dtype) return entry.name;
  }
  return std::nullopt;
}

class SafetensorsParser {
 public:
  explicit SafetensorsParser(std::shared_ptr<const MappedFile> file) { out_.file_ = std::move(file); }

  Expected<SafetensorsFile> run() {
    ByteCursor cursor(out_.file_->bytes());
    FERRUM_ASSIGN_OR_RETURN(const uint64_t header_bytes, cursor.read<uint64_t>("header length"));
    FERRUM_CHECK(header_bytes <= kSafetensorsMaxHeaderBytes, ErrorCode::kParse, "header length ", header_bytes,
                 " exceeds the format's limit of ", kSafetensorsMaxHeaderBytes, " bytes");
    FERRUM_ASSIGN_OR_RETURN(std::span<const uint8_t> header, cursor.read_bytes(header_bytes, "JSON header"));
    out_.data_offset_ = cursor.offset();
    data_size_ = cursor.remaining();

    const std::string_view text(reinterpret_cast<const char*>(header.data()), header.size());
    FERRUM_ASSIGN_OR_RETURN(const nlohmann::json json, parse_json(text, "header"));
    FERRUM_CHECK(json.is_object(), ErrorCode::kParse, "header is a JSON ", json_type_name(json),
                 ", expected an object");
    for (const auto& [name, entry] : json.items()) {
      if (name == "__metadata__") {
        FERRUM_TRY(read_metadata(entry));
        continue;
      }
      auto info = read_tensor(name, entry);
      if (!info) return std::move(info).error().with_context(cat("tensor '", name, "'"));
      out_.tensors_.push_back(std::move(info).value());
    }
    FERRUM_TRY(check_no_overlap());
    return std::move(out_);
  }

 private:
  Status read_metadata(const nlohmann::json& entry) {
    FERRUM_CHECK(entry.is_object(), ErrorCode::kParse, "__metadata__ is a JSON ", json_type_name(entry),
                 ", expected an object of strings");
    for (const auto& [key, value] : entry.items()) {
      FERRUM_CHECK(value.is_string(), ErrorCode::kParse, "__metadata__ value of '", key, "' is a JSON ",
                   json_type_name(value), ", expected a string");
      out_.metadata_.emplace(key, value.get<std::string>());
    }
    return ok();
  }

  Expected<SafetensorsTensorInfo> read_tensor(const std::string& name, const nlohmann::json& entry) {
    FERRUM_CHECK(entry.is_object(), ErrorCode::kParse, "entry is a JSON ", json_type_name(entry),
                 ", expected an object");
    SafetensorsTensorInfo info{};
    info.name = name;

    auto dtype_field = entry.find("dtype");
    FERRUM_CHECK(dtype_field != entry.end() && dtype_field->is_string(), ErrorCode::kParse,
                 "missing string field \"dtype\"");
    const std::string& dtype_text = dtype_field->get_ref<const std::string&>();
    const bool known = std::any_of(kDTypes.begin(), kDTypes.end(), [&](auto& e) { return e.name == dtype_text; });
    FERRUM_CHECK(known, ErrorCode::kParse, "unknown dtype \"", dtype_text, "\"");
    const std::optional<DType> dtype = dtype_from_safetensors(dtype_text);
    FERRUM_CHECK(dtype.has_value(), ErrorCode::kUnsupported, "dtype ", dtype_text, " is not supported by ferrum");
    info.dtype = *dtype;

    auto shape_field = entry.find("shape");
    FERRUM_CHECK(shape_field != entry.end() && shape_field->is_array(), ErrorCode::kParse,
                 "missing array field \"shape\"");
    FERRUM_CHECK(shape_field->size() <= kMaxDims, ErrorCode::kUnsupported, "rank ", shape_field->size(),
                 " exceeds ferrum's maximum of ", kMaxDims);
    std::array<int64_t, kMaxDims> dims{};
    for (size_t axis = 0; axis < shape_field->size(); ++axis) {
      const std::optional<uint64_t> dim = as_u64((*shape_field)[axis]);
      FERRUM_CHECK(dim && *dim <= static_cast<uint64_t>(INT64_MAX), ErrorCode::kParse, "shape entry ", axis, " is ",
                   json_snippet((*shape_field)[axis]), ", expected a non-negative integer");
      dims[axis] = static_cast<int64_t>(*dim);
    }
    const std::optional<int64_t> checked = Shape::checked_numel({dims.data(), shape_field->size()});
    FERRUM_CHECK(checked.has_value(), ErrorCode::kParse, "shape ", json_snippet(*shape_field),
                 " overflows an element count");
    const auto numel = static_cast<uint64_t>(*checked);
    info.shape = Shape(std::span<const int64_t>(dims.data(), shape_field->size()));

    auto offsets_field = entry.find("data_offsets");
    FERRUM_CHECK(offsets_field != entry.end() && offsets_field->is_array() && offsets_field->size() == 2,
                 ErrorCode::kParse, "missing field \"data_offsets\": [begin, end]");
    const std::optional<uint64_t> begin = as_u64((*offsets_field)[0]);
    const std::optional<uint64_t> end = as_u64((*offsets_field)[1]);
    FERRUM_CHECK(begin && end && *begin <= *end, ErrorCode::kParse, "data_offsets ", json_snippet(*offsets_field),
                 " are not an ordered pair of non-negative integers");
    info.begin = *begin;
    info.end = *end;
    FERRUM_CHECK(info.end <= data_size_, ErrorCode::kOutOfRange, "data_offsets ", json_snippet(*offsets_field),
                 " extend past the ", data_size_, " bytes of tensor data");
    auto expected_bytes = dtype_bytes(info.dtype, static_cast<size_t>(numel));
    FERRUM_CHECK(expected_bytes && *expected_bytes == info.end - info.begin, ErrorCode::kShapeMismatch, dtype_text, " ",
                 info.shape.to_string(), " needs ", numel, " x ", dtype_info(info.dtype).block_bytes,
                 " bytes, but data_offsets ", json_snippet(*offsets_field), " span ", info.end - info.begin);
    info.file_offset = out_.data_offset_ + info.begin;
    return info;
  }

  // Tensors must not share bytes: a writer that overlapped them wrote a corrupt file.
  Status check_no_overlap() const {
    std::vector<const SafetensorsTensorInfo*> by_offset;
    for (const SafetensorsTensorInfo& info : out_.tensors_) {
      if (info.end > info.begin) by_offset.push_back(&info);
    }
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      FERRUM_CHECK(by_offset[i]->begin >= by_offset[i - 1]->end, ErrorCode::kParse, "tensors '", by_offset[i - 1]->name,
                   "' [", by_offset[i - 1]->begin, ", ", by_offset[i - 1]->end, ") and '", by_offset[i]->name, "' [",
                   by_offset[i]->begin, ", ", by_offset[i]->end, ") overlap");
    }
    return ok();
  }

  SafetensorsFile out_;
  uint64_t data_size_ = 0;
};

Expected<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  FERRUM_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::open(path));
  return parse(std::move(file));
}

Expected<SafetensorsFile> SafetensorsFile::parse(std::shared_ptr<const MappedFile> file) {
  const std::string name = file->name();
  auto parsed = SafetensorsParser(std::move(file)).run();
  if (!parsed) return std::move(parsed).error().with_context(name);
  return parsed;
}

const SafetensorsTensorInfo* SafetensorsFile::find_tensor(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const SafetensorsTensorInfo& info, std::string_view key) { return info.name < key; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

std::span<const uint8_t> SafetensorsFile::tensor_bytes(const SafetensorsTensorInfo& info) const {
  return file_->bytes().subspan(info.file_offset, info.nbytes());
}

TensorView SafetensorsFile::tensor_view(const SafetensorsTensorInfo& info) const {
  return TensorView(file_->data() + info.file_offset, info.dtype, info.shape);
}

}  // namespace ferrum
