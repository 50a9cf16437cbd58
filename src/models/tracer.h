// Debug dumps of named intermediates. Models call trace("attn_norm", layer, buffer, count) after
// each step of the graph (names follow llama.cpp's graph: attn_norm, Qcur, Kcur, Vcur, kqv_out,
// attn_out, ffn_inp, ffn_norm, ffn_out, l_out, result_norm, result_output); when FERRUM_DUMP names
// a tensor ("attn_norm", "attn_norm-1" for one layer, or "all"), its first values and statistics
// are printed to stderr. Disabled, a call costs one branch.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "backend/backend.h"

namespace ferrum {

class Tracer {
 public:
  Tracer() {
    if (const char* filter = std::getenv("FERRUM_DUMP")) filter_ = filter;
  }

  bool enabled() const { return !filter_.empty(); }

  // layer < 0 for tensors outside the layer stack.
  template <Backend B>
  void trace(typename B::Context& ctx, std::string_view name, int layer, const typename B::Buffer& buffer,
             size_t count) const {
    if (filter_.empty()) return;
    const std::string full_name = layer < 0 ? std::string(name) : std::string(name) + "-" + std::to_string(layer);
    if (filter_ != "all" && filter_ != name && filter_ != full_name) return;
    if (!B::sync(ctx)) return;
    auto values = B::to_vec(buffer, count);
    if (!values) return;
    double sum = 0, sum_sq = 0;
    for (float value : *values) {
      sum += value;
      sum_sq += static_cast<double>(value) * value;
    }
    std::fprintf(stderr, "[dump] %-18s n=%zu sum=%.6f rms=%.6f first:", full_name.c_str(), count, sum,
                 count ? std::sqrt(sum_sq / static_cast<double>(count)) : 0.0);
    for (size_t i = 0; i < count && i < 6; ++i) std::fprintf(stderr, " %.6f", (*values)[i]);
    std::fputc('\n', stderr);
  }

 private:
  std::string filter_;
};

}  // namespace ferrum
