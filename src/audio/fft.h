// A complex discrete Fourier transform of any length, by mixed-radix Cooley-Tukey: the length is
// split into its prime factors (Whisper's 400 = 2^4 x 5^2), each stage costs n x factor complex
// multiply-adds, so a 400-point transform is ~7,200 of them instead of the 160,000 of a direct DFT.
// Computed in double so the spectrum is exact to ~1e-15 relative, far below float32 features.
#pragma once

#include <complex>
#include <cstddef>
#include <span>
#include <vector>

namespace ferrum::audio {

class Fft {
 public:
  // n >= 1.
  explicit Fft(size_t n);

  size_t size() const { return n_; }

  // out[k] = sum_j in[j] e^{-2 pi i j k / n}; both spans hold size() values and must not overlap.
  void forward(std::span<const std::complex<double>> in, std::span<std::complex<double>> out) const;

 private:
  // The DFT of the n values in[0], in[stride], ... into out[0..n), using factors_[level..].
  void transform(const std::complex<double>* in, size_t stride, std::complex<double>* out, size_t n,
                 size_t level) const;

  size_t n_;
  std::vector<size_t> factors_;                // prime factors, smallest first
  std::vector<std::complex<double>> twiddle_;  // e^{-2 pi i k / n} for k < n
};

}  // namespace ferrum::audio
