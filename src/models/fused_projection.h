// Linear layers applied to one input whose outputs sit side by side, [tokens, sum(out_features)]:
// q / k / v, gate / up. One GEMM when the loader can fuse the weights (same storage type), else
// one per part with each result copied into its columns.
#pragma once

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "models/linear.h"
#include "models/weight_loader.h"

namespace ferrum {

template <Backend B>
class FusedProjection {
 public:
  using Buffer = typename B::Buffer;

  // The layers stored under `prefixes` (prefix.weight, ...), fused under `fused_name` when possible.
  // `splits` (empty: none) names each layer's tensor-parallel part; out_features are the stored sizes.
  static Expected<FusedProjection> load(const WeightLoader<B>& loader, std::span<const std::string> prefixes,
                                        std::span<const size_t> out_features, size_t in_features, bool bias,
                                        const std::string& fused_name, std::span<const WeightSplit> splits = {}) {
    FusedProjection projection;
    FERRUM_ASSIGN_OR_RETURN(projection.fused_,
                            loader.fused_linear(prefixes, out_features, in_features, bias, fused_name, splits));
    if (!projection.fused_) {
      for (size_t part = 0; part < prefixes.size(); ++part) {
        const WeightSplit split = splits.empty() ? WeightSplit{} : splits[part];
        FERRUM_ASSIGN_OR_RETURN(auto linear,
                                loader.linear(prefixes[part], out_features[part], in_features, bias, split));
        projection.parts_.push_back(std::move(linear));
      }
      projection.gguf_parts_ = gguf_parts(projection.parts_);
    }
    return projection;
  }

  // A projection whose weights are already one matrix (a fused tensor in the checkpoint).
  static FusedProjection of(Linear<B> fused) {
    FusedProjection projection;
    projection.fused_.emplace(std::move(fused));
    return projection;
  }

  // Bytes of weights one forward reads.
  size_t weight_bytes() const {
    if (fused_) return fused_->weight_bytes();
    size_t total = 0;
    for (const Linear<B>& part : parts_) total += part.weight_bytes();
    return total;
  }

  // The single dense matrix of a fused projection without bias (what fused kernels such as
  // gemm_gated take), else nullptr.
  const Buffer* fused_dense_weight() const {
    if (!fused_ || fused_->has_bias()) return nullptr;
    return fused_->dense_weight();
  }

  size_t out_features() const {
    if (fused_) return fused_->out_features();
    size_t total = 0;
    for (const Linear<B>& part : parts_) total += part.out_features();
    return total;
  }

  // Whether some part reads x's rounding made ahead (Linear::takes_rounded_rows).
  bool takes_rounded_rows(size_t rows) const {
    if (fused_) return fused_->takes_rounded_rows(rows);
    return std::any_of(parts_.begin(), parts_.end(),
                       [rows](const Linear<B>& part) { return part.takes_rounded_rows(rows); });
  }

  // out [tokens, out_features()] = x @ W^T. `part_scratch` holds one part's output
  // ([tokens, widest part]) when the parts run separately; `x_rounded` as Linear::forward's (one
  // rounding then serves every part).
  Status forward(typename B::Context& ctx, const Buffer& x, Buffer& out, size_t tokens, Buffer& part_scratch,
                 const RoundedRows<B>* x_rounded = nullptr) const {
    if (fused_) return fused_->forward(ctx, x, out, tokens, x_rounded);
    if constexpr (requires { B::gemm_quant_parts(ctx, x, x_rounded, gguf_parts_, out, tokens, tokens); }) {
      // GGUF parts of different types, written side by side in place where the backend can.
      if (!gguf_parts_.empty() && B::gemm_quant_parts_supported(gguf_parts_, tokens)) {
        return B::gemm_quant_parts(ctx, x, x_rounded, gguf_parts_, out, tokens, parts_.front().in_features());
      }
    }
    const size_t width = out_features();
    size_t column = 0;
    for (const Linear<B>& part : parts_) {
      FERRUM_TRY(part.forward(ctx, x, part_scratch, tokens, x_rounded));
      FERRUM_TRY(
          B::copy_2d(ctx, part_scratch, 0, part.out_features(), out, column, width, tokens, part.out_features()));
      column += part.out_features();
    }
    return ok();
  }

 private:
  // The parts as GgufPart views when every one is GGUF blocks without a bias (else empty).
  static std::vector<GgufPart<Buffer>> gguf_parts(const std::vector<Linear<B>>& parts) {
    std::vector<GgufPart<Buffer>> views;
    for (const Linear<B>& part : parts) {
      const auto* gguf = std::get_if<GgufWeight<B>>(&part.storage());
      if (gguf == nullptr || part.has_bias()) return {};
      views.push_back({gguf->blocks.get(), gguf->quant_type, part.out_features()});
    }
    return views;
  }

  std::optional<Linear<B>> fused_;
  std::vector<Linear<B>> parts_;
  std::vector<GgufPart<Buffer>> gguf_parts_;  // views of parts_' weights (shared_ptr-owned: stable)
};

}  // namespace ferrum
