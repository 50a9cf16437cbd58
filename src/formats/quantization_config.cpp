#include "formats/quantization_config.h"

#include <cctype>

#include "formats/json_fields.h"

namespace ferrum {
namespace {

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

Expected<QuantizationConfig> parse_quantization_config(const nlohmann::json& object, std::string_view source,
                                                       std::string_view default_method) {
  JsonFields f(object, std::string(source));
  QuantizationConfig q;
  q.source = std::string(source);
  q.method = lowercase(f.string_or("quant_method", default_method));
  if (q.method == "gptq") {
    q.bits = f.int_or("bits", 4);
    q.group_size = f.int_or("group_size", 128);
    q.desc_act = f.bool_or("desc_act", false);
    q.sym = f.bool_or("sym", true);
    q.checkpoint_format = lowercase(f.string_or("checkpoint_format", "gptq"));
    if (q.checkpoint_format != "gptq" && q.checkpoint_format != "gptq_v2") {
      f.fail("checkpoint_format", cat("is \"", q.checkpoint_format, "\" (expected gptq or gptq_v2)"));
    }
  } else if (q.method == "awq") {
    // AutoAWQ's own quant_config.json spells bits and group size w_bit and q_group_size.
    q.bits = f.int_or("bits", f.int_or("w_bit", 4));
    q.group_size = f.int_or("group_size", f.int_or("q_group_size", 128));
    q.zero_point = f.bool_or("zero_point", true);
    q.sym = !q.zero_point;
    q.awq_version = lowercase(f.string_or("version", "gemm"));
    q.modules_to_not_convert = f.string_list("modules_to_not_convert");
  } else {
    return make_error(ErrorCode::kUnsupported, source, ": quantization method \"", q.method,
                      "\" is not supported (ferrum reads gptq and awq)");
  }
  if (q.bits != 2 && q.bits != 3 && q.bits != 4 && q.bits != 8) {
    f.fail("bits", cat("is ", q.bits, " (expected 2, 3, 4 or 8)"));
  }
  if (q.group_size != -1 && q.group_size <= 0) {
    f.fail("group_size", cat("is ", q.group_size, " (expected -1 or a positive integer)"));
  }
  FERRUM_TRY(f.status());
  return q;
}

}  // namespace ferrum
