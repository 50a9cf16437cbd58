#include "audio/fft.h"

#include <cmath>
#include <numbers>

namespace ferrum::audio {

Fft::Fft(size_t n) : n_(n == 0 ? 1 : n) {
  size_t rest = n_;
  for (size_t p = 2; p * p <= rest; ++p) {
    while (rest % p == 0) {
      factors_.push_back(p);
      rest /= p;
    }
  }
  if (rest > 1) factors_.push_back(rest);
  twiddle_.resize(n_);
  for (size_t k = 0; k < n_; ++k) {
    const double angle = -2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(n_);
    twiddle_[k] = {std::cos(angle), std::sin(angle)};
  }
}

void Fft::forward(std::span<const std::complex<double>> in, std::span<std::complex<double>> out) const {
  transform(in.data(), 1, out.data(), n_, 0);
}

void Fft::transform(const std::complex<double>* in, size_t stride, std::complex<double>* out, size_t n,
                    size_t level) const {
  if (n == 1) {
    out[0] = in[0];
    return;
  }
  // Decimation in time: split the input into p interleaved sequences of m values (sequence q holds
  // in[q], in[q + p], ...), transform each into out[q m .. q m + m), then combine:
  //   X[k + s m] = sum_q W_n^{q (k + s m)} Y_q[k]    for k < m, s < p.
  const size_t p = factors_[level];
  const size_t m = n / p;
  for (size_t q = 0; q < p; ++q) transform(in + q * stride, stride * p, out + q * m, m, level + 1);
  // W_n^e is twiddle_[e * (n_ / n) mod n_].
  const size_t step = n_ / n;
  // The p inputs of one butterfly; on the stack for the small factors real lengths have.
  std::complex<double> small_column[16];
  std::vector<std::complex<double>> large_column;
  if (p > 16) large_column.resize(p);
  std::complex<double>* column = p > 16 ? large_column.data() : small_column;
  for (size_t k = 0; k < m; ++k) {
    for (size_t q = 0; q < p; ++q) column[q] = out[q * m + k];
    for (size_t s = 0; s < p; ++s) {
      const size_t index = k + s * m;
      std::complex<double> sum = column[0];
      for (size_t q = 1; q < p; ++q) sum += column[q] * twiddle_[(q * index % n) * step];
      out[index] = sum;
    }
  }
}

}  // namespace ferrum::audio
