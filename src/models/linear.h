// A linear layer out[m, n] = x[m, k] @ W^T (+ bias) whatever W's storage: a dense float matrix,
// GGUF blocks kept quantized, AWQ integers as packed in the checkpoint, or GPTQ repacked into the
// backend's GptqStore.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "backend/backend.h"
#include "models/rounded_rows.h"

namespace ferrum {

// Weights are shared so one matrix can serve two layers (tied embeddings and lm_head).
template <Backend B>
struct DenseWeight {
  std::shared_ptr<const typename B::Buffer> weight;  // [n, k], f32 / f16 / bf16
};

template <Backend B>
struct GgufWeight {
  std::shared_ptr<const typename B::Buffer> blocks;  // n rows of k values in GGUF blocks
  GgufQuantType quant_type;
};

// Group-quantized integers packed as their checkpoint stores them (AWQ), multiplied by gemm_quant.
template <Backend B>
struct PackedQuantWeight {
  std::shared_ptr<const typename B::Buffer> qweight;
  std::shared_ptr<const typename B::Buffer> scales;
  std::shared_ptr<const typename B::Buffer> zeros;
  QuantKind kind;
};

template <Backend B>
struct GptqWeight {
  typename B::GptqStore store;
  uint32_t bits = 4;
  size_t group_size = 128;  // 0 = per output channel
  bool act_order = false;   // g_idx other than each channel's own group (x is reordered per call)
};

// Backends whose GPTQ GEMM can read x's rounding made ahead (rounded_rows.h).
template <class B>
inline constexpr bool kHasGptqRounded = kHasRoundedRows<B>&& requires(typename B::Context& ctx,
                                                                      const typename B::Buffer& x,
                                                                      const RoundedRows<B>& rounded,
                                                                      const typename B::GptqStore& store,
                                                                      typename B::Buffer& out) {
  { B::gemm_gptq_rounded(ctx, x, rounded, store, out, size_t{1}) } -> std::same_as<Status>;
};

template <Backend B>
class Linear {
 public:
  using Buffer = typename B::Buffer;
  using Storage = std::variant<DenseWeight<B>, GgufWeight<B>, PackedQuantWeight<B>, GptqWeight<B>>;

  Linear(std::string name, size_t out_features, size_t in_features, Storage storage,
         std::optional<Buffer> bias = std::nullopt)
      : name_(std::move(name)),
        out_features_(out_features),
        in_features_(in_features),
        storage_(std::move(storage)),
        bias_(std::move(bias)) {}

  const std::string& name() const { return name_; }
  size_t out_features() const { return out_features_; }
  size_t in_features() const { return in_features_; }
  const Storage& storage() const { return storage_; }
  bool has_bias() const { return bias_.has_value(); }
  // The dense float matrix when the layer is one (nullptr for quantized storage).
  const Buffer* dense_weight() const {
    const auto* dense = std::get_if<DenseWeight<B>>(&storage_);
    return dense ? dense->weight.get() : nullptr;
  }

  // Bytes of weight data one forward reads (for bandwidth figures): the stored matrix, or the
  // packed integers plus their scales and zeros.
  size_t weight_bytes() const {
    const auto bytes_of = [](const Buffer& buffer) { return dtype_bytes(buffer.dtype(), buffer.numel()).value_or(0); };
    return std::visit(
        [&](const auto& weight) -> size_t {
          using Weight = std::decay_t<decltype(weight)>;
          if constexpr (std::is_same_v<Weight, DenseWeight<B>>) {
            return bytes_of(*weight.weight);
          } else if constexpr (std::is_same_v<Weight, GgufWeight<B>>) {
            return bytes_of(*weight.blocks);
          } else if constexpr (std::is_same_v<Weight, PackedQuantWeight<B>>) {
            return bytes_of(*weight.qweight) + bytes_of(*weight.scales) + bytes_of(*weight.zeros);
          } else {
            const size_t groups = weight.group_size ? in_features_ / weight.group_size : 1;
            // packed integers + f16 scales + packed zeros
            return out_features_ * in_features_ * weight.bits / 8 + groups * out_features_ * 2 +
                   groups * out_features_ * weight.bits / 8;
          }
        },
        storage_);
  }

  // Whether forward of `rows` rows can use x's rounding made ahead: GGUF blocks (the backend's
  // quantized GEMV), and 4-bit GPTQ without act-order at one row on backends whose GPTQ GEMV reads it.
  bool takes_rounded_rows(size_t rows) const {
    if (std::holds_alternative<GgufWeight<B>>(storage_)) return true;
    if constexpr (kHasGptqRounded<B>) {
      const auto* gptq = std::get_if<GptqWeight<B>>(&storage_);
      return gptq != nullptr && gptq->bits == 4 && !gptq->act_order && rows == 1;
    }
    return false;
  }

  // out[m, out_features] = x[m, in_features] @ W^T + bias. `x_rounded`, when given, holds x's
  // rounding (rounded_rows.h), which GGUF and GPTQ weights read instead of rounding x again.
  Status forward(typename B::Context& ctx, const Buffer& x, Buffer& out, size_t m,
                 const RoundedRows<B>* x_rounded = nullptr) const {
    Status status = std::visit(
        [&](const auto& weight) -> Status {
          using Weight = std::decay_t<decltype(weight)>;
          if constexpr (std::is_same_v<Weight, DenseWeight<B>>) {
            return B::gemm(ctx, x, *weight.weight, out, m, out_features_, in_features_);
          } else if constexpr (std::is_same_v<Weight, GgufWeight<B>>) {
            QuantWeights<Buffer> packed{.qweight = weight.blocks.get()};
            if constexpr (kHasRoundedRows<B>) {
              if (x_rounded != nullptr) {
                return B::gemm_quant_rounded(ctx, x, *x_rounded, packed, out, m, out_features_, in_features_,
                                             QuantKind{GgufQuant{weight.quant_type}});
              }
            }
            return B::gemm_quant(ctx, x, packed, out, m, out_features_, in_features_,
                                 QuantKind{GgufQuant{weight.quant_type}});
          } else if constexpr (std::is_same_v<Weight, PackedQuantWeight<B>>) {
            QuantWeights<Buffer> packed{
                .qweight = weight.qweight.get(), .scales = weight.scales.get(), .zeros = weight.zeros.get()};
            return B::gemm_quant(ctx, x, packed, out, m, out_features_, in_features_, weight.kind);
          } else {
            if constexpr (kHasGptqRounded<B>) {
              if (x_rounded != nullptr) return B::gemm_gptq_rounded(ctx, x, *x_rounded, weight.store, out, m);
            }
            return B::gemm_gptq(ctx, x, weight.store, out, m);
          }
        },
        storage_);
    if (!status) return std::move(status).error().with_context(name_);
    if (bias_) FERRUM_TRY(B::add_bias(ctx, out, *bias_, m, out_features_));
    return ok();
  }

 private:
  std::string name_;
  size_t out_features_;
  size_t in_features_;
  Storage storage_;
  std::optional<Buffer> bias_;
};

}  // namespace ferrum
