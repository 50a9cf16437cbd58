#include "reference_fixture.h"

#include <cmath>
#include <fstream>

#include "formats/safetensors_file.h"
#include "models/weight_loader.h"

namespace ferrum::testing {

std::filesystem::path hf_tiny_dir(const std::string& model) {
  return std::filesystem::path(FERRUM_FIXTURES_DIR) / "hf-tiny" / model;
}

Expected<std::vector<float>> reference_tensor(const std::string& model, const std::string& name) {
  FERRUM_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(hf_tiny_dir(model) / "reference.safetensors"));
  const SafetensorsTensorInfo* info = file.find_tensor(name);
  FERRUM_CHECK(info != nullptr, ErrorCode::kNotFound, model, "/reference.safetensors has no tensor ", name);
  return tensor_to_f32(file.tensor_view(*info));
}

Expected<std::vector<uint32_t>> reference_ids(const std::string& model, const std::string& name) {
  FERRUM_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(hf_tiny_dir(model) / "reference.safetensors"));
  const SafetensorsTensorInfo* info = file.find_tensor(name);
  FERRUM_CHECK(info != nullptr, ErrorCode::kNotFound, model, "/reference.safetensors has no tensor ", name);
  const TensorView view = file.tensor_view(*info);
  FERRUM_CHECK(view.dtype() == DType::kI32 || view.dtype() == DType::kI64, ErrorCode::kParse, name,
               " is not an integer tensor");
  std::vector<uint32_t> ids(static_cast<size_t>(view.numel()));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (view.dtype() == DType::kI32) {
      int32_t value;
      std::memcpy(&value, static_cast<const uint8_t*>(view.data()) + 4 * i, 4);
      ids[i] = static_cast<uint32_t>(value);
    } else {
      int64_t value;
      std::memcpy(&value, static_cast<const uint8_t*>(view.data()) + 8 * i, 8);
      ids[i] = static_cast<uint32_t>(value);
    }
  }
  return ids;
}

Expected<nlohmann::json> reference_json(const std::string& model) {
  std::ifstream in(hf_tiny_dir(model) / "reference.json");
  FERRUM_CHECK(in.good(), ErrorCode::kNotFound, "cannot open ", model, "/reference.json");
  nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  FERRUM_CHECK(!json.is_discarded(), ErrorCode::kParse, model, "/reference.json is not valid JSON");
  return json;
}

Difference max_abs_difference(const std::vector<float>& actual, const std::vector<float>& expected) {
  Difference difference;
  for (size_t i = 0; i < actual.size() && i < expected.size(); ++i) {
    const double delta = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    if (delta > difference.max_abs || std::isnan(delta)) {
      difference.max_abs = std::isnan(delta) ? INFINITY : delta;
      difference.worst_index = i;
    }
  }
  return difference;
}

}  // namespace ferrum::testing
