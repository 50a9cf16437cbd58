#include "backend/backend_types.h"

#include "core/error.h"

namespace ferrum {

DType gguf_quant_dtype(GgufQuantType type) {
  switch (type) {
    case GgufQuantType::kQ4_0: return DType::kQ4_0;
    case GgufQuantType::kQ4_1: return DType::kQ4_1;
    case GgufQuantType::kQ5_0: return DType::kQ5_0;
    case GgufQuantType::kQ5_1: return DType::kQ5_1;
    case GgufQuantType::kQ8_0: return DType::kQ8_0;
    case GgufQuantType::kQ2_K: return DType::kQ2_K;
    case GgufQuantType::kQ3_K: return DType::kQ3_K;
    case GgufQuantType::kQ4_K: return DType::kQ4_K;
    case GgufQuantType::kQ5_K: return DType::kQ5_K;
    case GgufQuantType::kQ6_K: return DType::kQ6_K;
  }
  return DType::kQ8_0;
}

GgufQuantType gguf_quant_type(DType dtype) {
  switch (dtype) {
    case DType::kQ4_0: return GgufQuantType::kQ4_0;
    case DType::kQ4_1: return GgufQuantType::kQ4_1;
    case DType::kQ5_0: return GgufQuantType::kQ5_0;
    case DType::kQ5_1: return GgufQuantType::kQ5_1;
    case DType::kQ2_K: return GgufQuantType::kQ2_K;
    case DType::kQ3_K: return GgufQuantType::kQ3_K;
    case DType::kQ4_K: return GgufQuantType::kQ4_K;
    case DType::kQ5_K: return GgufQuantType::kQ5_K;
    case DType::kQ6_K: return GgufQuantType::kQ6_K;
    default: return GgufQuantType::kQ8_0;
  }
}

std::string quant_kind_name(const QuantKind& kind) {
  struct Namer {
    std::string operator()(const GptqQuant& q) const {
      return cat("gptq(bits=", q.bits, ", group=", q.group_size, q.desc_act ? ", desc_act)" : ")");
    }
    std::string operator()(const AwqQuant& q) const { return cat("awq(bits=", q.bits, ", group=", q.group_size, ")"); }
    std::string operator()(const GgufQuant& q) const {
      return cat("gguf(", dtype_name(gguf_quant_dtype(q.quant_type)), ")");
    }
  };
  return std::visit(Namer{}, kind);
}

}  // namespace ferrum
