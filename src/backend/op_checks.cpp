#include "backend/op_checks.h"

namespace ferrum {

Expected<size_t> checked_product(std::string_view op, std::initializer_list<size_t> factors) {
  size_t product = 1;
  for (size_t factor : factors) {
    FERRUM_CHECK(factor == 0 || product <= std::numeric_limits<size_t>::max() / factor, ErrorCode::kOutOfRange, op,
                 ": size overflows (", product, " x ", factor, ")");
    product *= factor;
  }
  return product;
}

Status check_positive(std::string_view op, std::string_view arg, size_t value) {
  FERRUM_CHECK(value > 0, ErrorCode::kInvalidArgument, op, ": ", arg, " must be positive");
  return ok();
}

}  // namespace ferrum
