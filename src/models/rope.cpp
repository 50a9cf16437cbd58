#include "models/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ferrum {
namespace {

// 1 / theta^(2i / dim), each power rounded to f32 as torch computes it.
std::vector<float> base_inverse_frequencies(double theta, size_t dim) {
  std::vector<float> inv_freq(dim / 2);
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    const float power = static_cast<float>(std::pow(theta, static_cast<double>(exponent)));
    inv_freq[i] = 1.0f / power;
  }
  return inv_freq;
}

void apply_llama3(const RopeScaling& params, std::vector<float>& inv_freq) {
  const double old_context = static_cast<double>(*params.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / params.low_freq_factor;
  const double high_freq_wavelen = old_context / params.high_freq_factor;
  for (float& freq : inv_freq) {
    const double wavelen = 2 * std::numbers::pi / freq;
    if (wavelen > low_freq_wavelen) {
      freq = static_cast<float>(freq / params.factor);  // long wavelengths: interpolate fully
    } else if (wavelen >= high_freq_wavelen) {
      // In between: blend interpolation and extrapolation smoothly.
      const double smooth =
          (old_context / wavelen - params.low_freq_factor) / (params.high_freq_factor - params.low_freq_factor);
      freq = static_cast<float>((1 - smooth) * freq / params.factor + smooth * freq);
    }
  }
}

// Dimension index at which a frequency completes `rotations` turns over the original context.
double yarn_correction_dim(double rotations, size_t dim, double theta, size_t max_positions) {
  return static_cast<double>(dim) * std::log(static_cast<double>(max_positions) / (rotations * 2 * std::numbers::pi)) /
         (2 * std::log(theta));
}

void apply_yarn(const RopeScaling& params, double theta, size_t dim, size_t original_max_positions,
                std::vector<float>& inv_freq) {
  double low = yarn_correction_dim(params.beta_fast, dim, theta, original_max_positions);
  double high = yarn_correction_dim(params.beta_slow, dim, theta, original_max_positions);
  if (params.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // avoid a zero-width ramp
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation_weight = 1.0 - ramp;
    const double extrapolated = inv_freq[i];
    const double interpolated = inv_freq[i] / params.factor;
    inv_freq[i] = static_cast<float>(interpolated * (1 - extrapolation_weight) + extrapolated * extrapolation_weight);
  }
}

}  // namespace

double yarn_mscale(double factor, double mscale) {
  if (factor <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(factor) + 1.0;
}

Expected<RopeFrequencies> rope_frequencies(const RopeParams& params, size_t rotary_dim, size_t max_positions) {
  const RopeScaling& scaling = params.scaling;
  FERRUM_CHECK(rotary_dim >= 4 && rotary_dim % 2 == 0, ErrorCode::kInvalidArgument,
               "rope: rotary dimension must be even and >= 4, got ", rotary_dim);
  FERRUM_CHECK(params.theta > 1.0 && std::isfinite(params.theta), ErrorCode::kInvalidArgument,
               "rope: theta must be > 1, got ", params.theta);
  const bool scaled = scaling.type != RopeType::kDefault;
  FERRUM_CHECK(!scaled || (scaling.factor > 0 && std::isfinite(scaling.factor)), ErrorCode::kInvalidArgument,
               "rope: scaling factor must be > 0, got ", scaling.factor);
  FERRUM_CHECK(scaling.type != RopeType::kLongrope, ErrorCode::kUnsupported, "rope: longrope scaling is not supported");
  const size_t original = scaling.original_max_position_embeddings
                              ? static_cast<size_t>(std::max<int64_t>(*scaling.original_max_position_embeddings, 1))
                              : max_positions;

  RopeFrequencies result;
  double theta = params.theta;
  if (scaling.type == RopeType::kDynamic) {
    // NTK-aware: stretch the base once the context exceeds the pre-training length.
    FERRUM_CHECK(original > 0, ErrorCode::kInvalidArgument, "rope: dynamic scaling needs max_position_embeddings");
    const double context = static_cast<double>(std::max(max_positions, original));
    const double dim = static_cast<double>(rotary_dim);
    theta *= std::pow(scaling.factor * context / static_cast<double>(original) - (scaling.factor - 1), dim / (dim - 2));
  }
  result.inv_freq = base_inverse_frequencies(theta, rotary_dim);

  switch (scaling.type) {
    case RopeType::kDefault:
    case RopeType::kDynamic:
    case RopeType::kLongrope: break;
    case RopeType::kLinear:
      for (float& freq : result.inv_freq) freq = static_cast<float>(freq / scaling.factor);
      break;
    case RopeType::kLlama3:
      FERRUM_CHECK(scaling.original_max_position_embeddings && scaling.high_freq_factor > scaling.low_freq_factor,
                   ErrorCode::kInvalidArgument,
                   "rope: llama3 scaling needs original_max_position_embeddings and high_freq_factor > "
                   "low_freq_factor");
      apply_llama3(scaling, result.inv_freq);
      break;
    case RopeType::kYarn:
      apply_yarn(scaling, params.theta, rotary_dim, original, result.inv_freq);
      if (scaling.attention_factor) {
        result.attention_factor = *scaling.attention_factor;
      } else if (scaling.mscale && scaling.mscale_all_dim) {
        result.attention_factor =
            yarn_mscale(scaling.factor, *scaling.mscale) / yarn_mscale(scaling.factor, *scaling.mscale_all_dim);
      } else {
        result.attention_factor = yarn_mscale(scaling.factor, 1.0);
      }
      break;
  }
  if (!scaling.frequency_divisors.empty()) {
    FERRUM_CHECK(scaling.frequency_divisors.size() == result.inv_freq.size(), ErrorCode::kShapeMismatch,
                 "rope: ", scaling.frequency_divisors.size(), " frequency divisors (rope_freqs) for ",
                 result.inv_freq.size(), " frequencies");
    for (size_t i = 0; i < result.inv_freq.size(); ++i) result.inv_freq[i] /= scaling.frequency_divisors[i];
  }
  return result;
}

Expected<RopeTable> rope_table(const RopeParams& params, size_t rotary_dim, size_t positions) {
  FERRUM_ASSIGN_OR_RETURN(RopeFrequencies frequencies, rope_frequencies(params, rotary_dim, positions));
  FERRUM_CHECK(positions > 0 && positions <= (size_t{1} << 24), ErrorCode::kInvalidArgument, "rope: table of ",
               positions, " positions is out of range");
  RopeTable table;
  table.positions = positions;
  table.half_dim = frequencies.inv_freq.size();
  table.cos.resize(positions * table.half_dim);
  table.sin.resize(positions * table.half_dim);
  for (size_t pos = 0; pos < positions; ++pos) {
    for (size_t i = 0; i < table.half_dim; ++i) {
      // torch forms the angle in f32 (position x inv_freq), then takes cos / sin of it.
      const float angle = static_cast<float>(pos) * frequencies.inv_freq[i];
      table.cos[pos * table.half_dim + i] = static_cast<float>(std::cos(angle) * frequencies.attention_factor);
      table.sin[pos * table.half_dim + i] = static_cast<float>(std::sin(angle) * frequencies.attention_factor);
    }
  }
  return table;
}

}  // namespace ferrum
