// Whisper's log-mel front end, as Hugging Face's WhisperFeatureExtractor computes it:
//   1. the 16 kHz samples are zero-padded (or cut) to one 30 s chunk,
//   2. a short-time Fourier transform with a periodic Hann window of n_fft = 400 samples every
//      hop = 160 samples, the signal reflected by n_fft / 2 at both ends so frame f is centred on
//      sample f * hop; the last frame is dropped, leaving chunk / hop = 3000 frames,
//   3. the power spectrum |X[k]|^2 (k <= n_fft / 2) through a bank of Slaney-style triangular mel
//      filters (0..8 kHz, Slaney mel scale, each filter scaled to unit area),
//   4. log10 of max(mel, 1e-10), floored at (largest value - 8), then (x + 4) / 4.
// Computed in double; the result is float [n_mels, frames], mel bin major (the layout
// input_features has).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "core/error.h"

namespace ferrum::audio {

struct LogMelOptions {
  size_t n_mels = 80;  // 80, or 128 for large-v3
  size_t sample_rate = 16000;
  size_t n_fft = 400;
  size_t hop = 160;
  size_t chunk_samples = 480000;  // 30 s at 16 kHz; samples beyond are ignored
  double f_min = 0.0;
  double f_max = 8000.0;
};

struct LogMel {
  size_t n_mels = 0;
  size_t frames = 0;
  std::vector<float> values;  // [n_mels, frames]
};

// Slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
double hz_to_mel_slaney(double hz);
double mel_to_hz_slaney(double mel);

// Triangular filters [n_mels, n_fft / 2 + 1] with corners equally spaced on the Slaney mel scale
// between f_min and f_max, each multiplied by 2 / (its upper corner - its lower corner) in Hz.
std::vector<double> mel_filter_bank(size_t n_mels, size_t n_fft, size_t sample_rate, double f_min, double f_max);

// The features of one chunk (see the file comment). Errors on bad options or non-finite samples.
Expected<LogMel> whisper_log_mel(std::span<const float> samples, const LogMelOptions& options = {});

}  // namespace ferrum::audio
