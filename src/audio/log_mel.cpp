#include "audio/log_mel.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>

#include "audio/fft.h"

namespace ferrum::audio {
namespace {

// Below 1 kHz the Slaney scale is mel = hz / (200 / 3); above, it grows by 27 mels per factor 6.4.
constexpr double kLinearHzPerMel = 200.0 / 3.0;
constexpr double kBreakHz = 1000.0;
constexpr double kBreakMel = kBreakHz / kLinearHzPerMel;  // 15
const double kLogStep = std::log(6.4) / 27.0;

// Powers below this are treated as this (log10 -> -10), as the reference does.
constexpr double kMelFloor = 1e-10;
// Features are floored this many decades below the chunk's loudest value.
constexpr double kDynamicRangeDecades = 8.0;

Status check_options(const LogMelOptions& o) {
  FERRUM_CHECK(o.n_mels > 0 && o.n_fft >= 2 && o.hop > 0 && o.sample_rate > 0, ErrorCode::kInvalidArgument,
               "log-mel: n_mels ", o.n_mels, ", n_fft ", o.n_fft, ", hop ", o.hop, " and sample_rate ", o.sample_rate,
               " must be positive (n_fft at least 2)");
  // Reflection by n_fft / 2 needs that many samples past each end.
  FERRUM_CHECK(o.chunk_samples > o.n_fft / 2, ErrorCode::kInvalidArgument, "log-mel: chunk of ", o.chunk_samples,
               " samples is too short for n_fft ", o.n_fft);
  FERRUM_CHECK(o.f_min >= 0 && o.f_min < o.f_max && o.f_max <= static_cast<double>(o.sample_rate) / 2,
               ErrorCode::kInvalidArgument, "log-mel: frequency range ", o.f_min, "..", o.f_max,
               " Hz is not within 0..", o.sample_rate / 2, " Hz");
  return ok();
}

// One triangular filter as the range of FFT bins where it is non-zero (most are), for a sparse product.
struct SparseFilter {
  size_t first_bin = 0;
  std::vector<double> weights;
};

std::vector<SparseFilter> sparse_filters(const std::vector<double>& dense, size_t n_mels, size_t bins) {
  std::vector<SparseFilter> filters(n_mels);
  for (size_t m = 0; m < n_mels; ++m) {
    const double* row = &dense[m * bins];
    size_t first = 0;
    while (first < bins && row[first] == 0.0) ++first;
    size_t last = bins;
    while (last > first && row[last - 1] == 0.0) --last;
    filters[m].first_bin = first;
    filters[m].weights.assign(row + first, row + last);
  }
  return filters;
}

}  // namespace

double hz_to_mel_slaney(double hz) {
  if (hz < kBreakHz) return hz / kLinearHzPerMel;
  return kBreakMel + std::log(hz / kBreakHz) / kLogStep;
}

double mel_to_hz_slaney(double mel) {
  if (mel < kBreakMel) return mel * kLinearHzPerMel;
  return kBreakHz * std::exp(kLogStep * (mel - kBreakMel));
}

std::vector<double> mel_filter_bank(size_t n_mels, size_t n_fft, size_t sample_rate, double f_min, double f_max) {
  const size_t bins = n_fft / 2 + 1;
  // n_mels + 2 corner frequencies, equally spaced in mels.
  const double mel_low = hz_to_mel_slaney(f_min);
  const double mel_high = hz_to_mel_slaney(f_max);
  std::vector<double> corner_hz(n_mels + 2);
  for (size_t i = 0; i < corner_hz.size(); ++i) {
    const double mel = mel_low + (mel_high - mel_low) * static_cast<double>(i) / static_cast<double>(n_mels + 1);
    corner_hz[i] = mel_to_hz_slaney(mel);
  }
  std::vector<double> bank(n_mels * bins, 0.0);
  const double bin_hz = static_cast<double>(sample_rate) / 2.0 / static_cast<double>(bins - 1);
  for (size_t m = 0; m < n_mels; ++m) {
    const double lower = corner_hz[m], centre = corner_hz[m + 1], upper = corner_hz[m + 2];
    const double area_scale = 2.0 / (upper - lower);
    for (size_t k = 0; k < bins; ++k) {
      const double hz = bin_hz * static_cast<double>(k);
      const double rising = (hz - lower) / (centre - lower);
      const double falling = (upper - hz) / (upper - centre);
      bank[m * bins + k] = std::max(0.0, std::min(rising, falling)) * area_scale;
    }
  }
  return bank;
}

Expected<LogMel> whisper_log_mel(std::span<const float> samples, const LogMelOptions& options) {
  FERRUM_TRY(check_options(options));
  for (size_t i = 0; i < samples.size(); ++i) {
    FERRUM_CHECK(std::isfinite(samples[i]), ErrorCode::kInvalidArgument, "log-mel: sample ", i, " is ", samples[i]);
  }
  const size_t n_fft = options.n_fft;
  const size_t half = n_fft / 2;
  const size_t bins = half + 1;
  const size_t length = options.chunk_samples;
  const size_t frames = length / options.hop;  // 1 + length / hop centred frames, less the last

  // The chunk, zero-padded, then reflected by n_fft / 2 at each end (x[-i] = x[i], without
  // repeating the edge sample).
  std::vector<double> padded(length + 2 * half, 0.0);
  const size_t used = std::min(samples.size(), length);
  for (size_t i = 0; i < used; ++i) padded[half + i] = samples[i];
  for (size_t i = 1; i <= half; ++i) {
    padded[half - i] = padded[half + i];
    padded[half + length - 1 + i] = padded[half + length - 1 - i];
  }

  std::vector<double> window(n_fft);
  for (size_t i = 0; i < n_fft; ++i) {
    window[i] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(n_fft));
  }
  const std::vector<SparseFilter> filters = sparse_filters(
      mel_filter_bank(options.n_mels, n_fft, options.sample_rate, options.f_min, options.f_max), options.n_mels, bins);

  const Fft fft(n_fft);
  std::vector<std::complex<double>> frame(n_fft), spectrum(n_fft);
  std::vector<double> power(bins);
  std::vector<double> log_mel(options.n_mels * frames);
  double loudest = -INFINITY;
  for (size_t f = 0; f < frames; ++f) {
    const double* start = &padded[f * options.hop];
    for (size_t i = 0; i < n_fft; ++i) frame[i] = start[i] * window[i];
    fft.forward(frame, spectrum);
    for (size_t k = 0; k < bins; ++k) power[k] = std::norm(spectrum[k]);
    for (size_t m = 0; m < options.n_mels; ++m) {
      const SparseFilter& filter = filters[m];
      double energy = 0.0;
      for (size_t j = 0; j < filter.weights.size(); ++j) energy += filter.weights[j] * power[filter.first_bin + j];
      const double value = std::log10(std::max(energy, kMelFloor));
      log_mel[m * frames + f] = value;
      loudest = std::max(loudest, value);
    }
  }

  LogMel result;
  result.n_mels = options.n_mels;
  result.frames = frames;
  result.values.resize(log_mel.size());
  const double floor = loudest - kDynamicRangeDecades;
  for (size_t i = 0; i < log_mel.size(); ++i) {
    result.values[i] = static_cast<float>((std::max(log_mel[i], floor) + 4.0) / 4.0);
  }
  return result;
}

}  // namespace ferrum::audio
