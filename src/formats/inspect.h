// `ferrum inspect FILE|DIR|org/name`: what a model file holds, without loading it. Prints the
// container's metadata, the model configuration ferrum derives from it, a tokenizer summary and a
// table of tensors (name, type, shape, bytes).
#pragma once

#include <ostream>
#include <string_view>

#include "core/error.h"

namespace ferrum {

struct InspectOptions {
  std::string_view revision = "main";  // for org/name specs
  size_t max_array_elements = 8;       // metadata arrays are cut after this many elements
  bool show_tensors = true;
};

Status inspect_model(std::string_view spec, std::ostream& out, const InspectOptions& options = {});

}  // namespace ferrum
