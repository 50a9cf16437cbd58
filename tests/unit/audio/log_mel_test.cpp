// Whisper's log-mel front end against transformers' WhisperFeatureExtractor on real speech
// (../shared/fixtures/whisper-mel), for 80 and 128 mel bins, from the samples and from the files.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstring>
#include <filesystem>
#include <numbers>
#include <random>

#include "audio/audio_file.h"
#include "audio/fft.h"
#include "audio/log_mel.h"
#include "formats/safetensors_file.h"

namespace ferrum::audio {
namespace {

constexpr double kFeatureTolerance = 1e-4;

std::filesystem::path mel_fixture(const std::string& name) {
  return std::filesystem::path(FERRUM_FIXTURES_DIR) / "whisper-mel" / name;
}

std::vector<float> fixture_tensor(const std::string& name) {
  auto file = SafetensorsFile::open(mel_fixture("log_mel_reference.safetensors"));
  EXPECT_TRUE(file) << file.error().to_string();
  if (!file) return {};
  const SafetensorsTensorInfo* info = file->find_tensor(name);
  EXPECT_NE(info, nullptr) << name;
  if (info == nullptr) return {};
  const TensorView view = file->tensor_view(*info);
  EXPECT_EQ(view.dtype(), DType::kF32);
  std::vector<float> values(static_cast<size_t>(view.numel()));
  std::memcpy(values.data(), view.data(), values.size() * sizeof(float));
  return values;
}

struct Worst {
  double max_abs = 0;
  size_t index = 0;
};

Worst worst_difference(const std::vector<float>& actual, const std::vector<float>& expected) {
  Worst worst;
  EXPECT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size() && i < expected.size(); ++i) {
    const double delta = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    if (!(delta <= worst.max_abs)) worst = {std::isnan(delta) ? INFINITY : delta, i};
  }
  return worst;
}

void expect_matches_reference(const LogMel& mel, size_t n_mels, const std::string& what) {
  const std::vector<float> expected = fixture_tensor("log_mel_" + std::to_string(n_mels));
  ASSERT_EQ(mel.n_mels, n_mels);
  ASSERT_EQ(mel.frames, 3000u);
  const Worst worst = worst_difference(mel.values, expected);
  std::printf("log-mel %3zu bins (%s): max |feature - transformers| = %.3g at bin %zu frame %zu\n", n_mels,
              what.c_str(), worst.max_abs, worst.index / mel.frames, worst.index % mel.frames);
  EXPECT_LT(worst.max_abs, kFeatureTolerance);
}

class LogMelBins : public ::testing::TestWithParam<size_t> {};

TEST_P(LogMelBins, SamplesMatchTransformers) {
  const std::vector<float> samples = fixture_tensor("samples");
  ASSERT_FALSE(samples.empty());
  auto mel = whisper_log_mel(samples, {.n_mels = GetParam()});
  ASSERT_TRUE(mel) << mel.error().to_string();
  expect_matches_reference(*mel, GetParam(), "fixture samples");
}

TEST_P(LogMelBins, WavFileMatchesTransformers) {
  auto samples = load_audio(mel_fixture("speech_16k.wav"), 16000);
  ASSERT_TRUE(samples) << samples.error().to_string();
  auto mel = whisper_log_mel(*samples, {.n_mels = GetParam()});
  ASSERT_TRUE(mel) << mel.error().to_string();
  expect_matches_reference(*mel, GetParam(), "speech_16k.wav");
}

INSTANTIATE_TEST_SUITE_P(Whisper, LogMelBins, ::testing::Values(80, 128));

TEST(AudioFile, WavSamplesAreInt16Over32768) {
  auto clip = read_audio_file(mel_fixture("speech_16k.wav"));
  ASSERT_TRUE(clip) << clip.error().to_string();
  EXPECT_EQ(clip->sample_rate, 16000u);
  EXPECT_EQ(clip->source_channels, 1u);
  EXPECT_EQ(clip->samples, fixture_tensor("samples"));
}

// The 22.05 kHz original resampled here (libsamplerate) against the reference computed from sox's
// 16 kHz version: two good resamplers differ a little near the band edge, not in the speech.
TEST(AudioFile, Resampled22kHzMatchesSoxVersionClosely) {
  auto clip = read_audio_file(mel_fixture("speech_22k.wav"));
  ASSERT_TRUE(clip) << clip.error().to_string();
  EXPECT_EQ(clip->sample_rate, 22050u);
  auto samples = resample(clip->samples, clip->sample_rate, 16000);
  ASSERT_TRUE(samples) << samples.error().to_string();
  const std::vector<float> reference_samples = fixture_tensor("samples");
  EXPECT_NEAR(static_cast<double>(samples->size()), static_cast<double>(reference_samples.size()), 2.0);
  auto mel = whisper_log_mel(*samples, {.n_mels = 80});
  ASSERT_TRUE(mel);
  const std::vector<float> expected = fixture_tensor("log_mel_80");
  double sum = 0;
  for (size_t i = 0; i < expected.size(); ++i) sum += std::fabs(mel->values[i] - expected[i]);
  const double mean = sum / static_cast<double>(expected.size());
  const Worst worst = worst_difference(mel->values, expected);
  std::printf("log-mel 80 bins from the resampled 22.05 kHz file: mean |diff| %.3g, max %.3g\n", mean, worst.max_abs);
  EXPECT_LT(mean, 2e-3);
}

TEST(LogMel, SilenceIsFlatAndShortInputIsPadded) {
  // All zeros: every value is log10(1e-10) = -10, floored at itself, so (-10 + 4) / 4 = -1.5.
  auto mel = whisper_log_mel(std::vector<float>(100, 0.0f));
  ASSERT_TRUE(mel);
  EXPECT_EQ(mel->frames, 3000u);
  for (float value : mel->values) ASSERT_FLOAT_EQ(value, -1.5f);
}

TEST(LogMel, RejectsNonFiniteSamplesAndBadOptions) {
  std::vector<float> samples(1000, 0.1f);
  samples[17] = NAN;
  auto mel = whisper_log_mel(samples);
  ASSERT_FALSE(mel);
  EXPECT_EQ(mel.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(mel.error().message().find("sample 17"), std::string::npos) << mel.error().message();
  EXPECT_FALSE(whisper_log_mel(std::vector<float>(10, 0.0f), {.n_mels = 0}));
  EXPECT_FALSE(whisper_log_mel(std::vector<float>(10, 0.0f), {.hop = 0}));
  EXPECT_FALSE(whisper_log_mel(std::vector<float>(10, 0.0f), {.f_max = 9000.0}));
}

TEST(MelFilters, SlaneyScaleAndUnitArea) {
  EXPECT_DOUBLE_EQ(hz_to_mel_slaney(1000.0), 15.0);
  EXPECT_DOUBLE_EQ(hz_to_mel_slaney(200.0), 3.0);
  for (double hz : {0.0, 123.0, 999.0, 1000.0, 4321.0, 8000.0}) {
    EXPECT_NEAR(mel_to_hz_slaney(hz_to_mel_slaney(hz)), hz, 1e-9);
  }
  // Each filter is a triangle of height 2 / (upper - lower) over its base: area 1 in Hz, so the
  // sum of its samples, one per 40 Hz bin, is about 1 / 40 (for the upper filters, whose triangles
  // span enough bins for that sum to approximate the area).
  const std::vector<double> bank = mel_filter_bank(80, 400, 16000, 0.0, 8000.0);
  ASSERT_EQ(bank.size(), 80u * 201u);
  for (size_t m = 48; m < 80; ++m) {
    double sum = 0;
    for (size_t k = 0; k < 201; ++k) sum += bank[m * 201 + k];
    EXPECT_NEAR(sum * 40.0, 1.0, 0.05) << "filter " << m;
  }
}

TEST(Fft, MatchesDirectDft) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  for (size_t n : {1u, 2u, 3u, 7u, 12u, 97u, 400u, 512u}) {
    std::vector<std::complex<double>> in(n), out(n);
    for (auto& value : in) value = {uniform(rng), uniform(rng)};
    Fft(n).forward(in, out);
    double worst = 0;
    for (size_t k = 0; k < n; ++k) {
      std::complex<double> expected = 0;
      for (size_t j = 0; j < n; ++j) {
        expected +=
            in[j] * std::polar(1.0, -2.0 * std::numbers::pi * static_cast<double>(j * k % n) / static_cast<double>(n));
      }
      worst = std::max(worst, std::abs(out[k] - expected));
    }
    EXPECT_LT(worst, 1e-11) << "n = " << n;
  }
}

}  // namespace
}  // namespace ferrum::audio
