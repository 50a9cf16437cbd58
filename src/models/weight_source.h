// Where a model's weights come from, seen through Hugging Face tensor names. A safetensors
// checkpoint serves its own names; a GGUF file translates them (and undoes the row permutation
// its converter applied). Tensors are host views into memory-mapped files, kept alive by
// `keep_alive`, so nothing is read until a backend uploads or borrows it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/tensor_view.h"

namespace ferrum {

struct WeightTensor {
  TensorView view;
  std::shared_ptr<const void> keep_alive;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;

  // The tensor stored under a Hugging Face name ("model.layers.0.self_attn.q_proj.weight"), or
  // kNotFound naming it and the source.
  virtual Expected<WeightTensor> find(std::string_view hf_name) const = 0;
  virtual bool contains(std::string_view hf_name) const = 0;
  // What to print in errors: the file or directory.
  virtual std::string describe() const = 0;
};

}  // namespace ferrum
