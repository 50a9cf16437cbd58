// Audio files other than the fixtures: FLAC and OGG written here with libsndfile and read back,
// stereo mix-down, resampling, and the errors bad files must give (never a crash).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>

#include <sndfile.h>

#include "audio/audio_file.h"

namespace ferrum::audio {
namespace {

class AudioFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ferrum_audio_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A 440 Hz tone, `channels` interleaved (channel c scaled by 1 / (c + 1)), written in `format`.
  // Returns false when this libsndfile cannot write the format.
  bool write_tone(const std::filesystem::path& path, int format, int rate, int channels, size_t frames) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = channels;
    info.format = format;
    if (!sf_format_check(&info)) return false;
    SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
    if (file == nullptr) return false;
    std::vector<float> samples(frames * static_cast<size_t>(channels));
    for (size_t i = 0; i < frames; ++i) {
      const double tone = 0.5 * std::sin(2.0 * std::numbers::pi * 440.0 * static_cast<double>(i) / rate);
      for (int c = 0; c < channels; ++c) samples[i * channels + c] = static_cast<float>(tone / (c + 1));
    }
    sf_writef_float(file, samples.data(), static_cast<sf_count_t>(frames));
    sf_close(file);
    return true;
  }

  void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }

  std::filesystem::path dir_;
};

double expected_tone(size_t i, double rate) {
  return 0.5 * std::sin(2.0 * std::numbers::pi * 440.0 * static_cast<double>(i) / rate);
}

TEST_F(AudioFiles, FlacAndOggReadBack) {
  for (auto [name, format, tolerance] : {std::tuple{"tone.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1e-4},
                                         std::tuple{"tone.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0.05}}) {
    const auto path = dir_ / name;
    if (!write_tone(path, format, 16000, 1, 8000)) {
      std::printf("libsndfile here cannot write %s; skipped\n", name);
      continue;
    }
    auto clip = read_audio_file(path);
    ASSERT_TRUE(clip) << name << ": " << clip.error().to_string();
    EXPECT_EQ(clip->sample_rate, 16000u) << name;
    ASSERT_EQ(clip->samples.size(), 8000u) << name;
    double worst = 0;
    for (size_t i = 0; i < clip->samples.size(); ++i) {
      worst = std::max(worst, std::fabs(clip->samples[i] - expected_tone(i, 16000)));
    }
    EXPECT_LT(worst, tolerance) << name;
  }
}

TEST_F(AudioFiles, StereoIsAveragedAndOtherRatesResampled) {
  const auto path = dir_ / "stereo_44k.wav";
  ASSERT_TRUE(write_tone(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 44100, 2, 44100));
  auto clip = read_audio_file(path);
  ASSERT_TRUE(clip) << clip.error().to_string();
  EXPECT_EQ(clip->source_channels, 2u);
  // (tone + tone / 2) / 2
  EXPECT_NEAR(clip->samples[100], 0.75 * expected_tone(100, 44100), 1e-6);
  auto samples = load_audio(path, 16000);
  ASSERT_TRUE(samples) << samples.error().to_string();
  EXPECT_NEAR(static_cast<double>(samples->size()), 16000.0, 2.0);
  // Away from the edges the resampled tone is the same tone at the new rate.
  double worst = 0;
  for (size_t i = 1000; i < 15000; ++i)
    worst = std::max(worst, std::fabs((*samples)[i] - 0.75 * expected_tone(i, 16000)));
  EXPECT_LT(worst, 1e-3);
}

TEST_F(AudioFiles, BadFilesGiveClearErrors) {
  auto missing = read_audio_file(dir_ / "missing.wav");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  write_bytes(dir_ / "text.wav", "this is not audio at all, just some text pretending to be a file");
  auto text = read_audio_file(dir_ / "text.wav");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code(), ErrorCode::kParse);
  EXPECT_NE(text.error().message().find("text.wav"), std::string::npos) << text.error().message();

  write_bytes(dir_ / "empty.wav", "");
  EXPECT_FALSE(read_audio_file(dir_ / "empty.wav"));

  // A valid header with no samples.
  ASSERT_TRUE(write_tone(dir_ / "silent.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 0));
  auto silent = read_audio_file(dir_ / "silent.wav");
  ASSERT_FALSE(silent);
  EXPECT_NE(silent.error().message().find("no samples"), std::string::npos) << silent.error().message();

  // A WAV cut off in the middle of its header, and one cut in its data.
  ASSERT_TRUE(write_tone(dir_ / "full.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 1000));
  std::ifstream in(dir_ / "full.wav", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_bytes(dir_ / "header_cut.wav", bytes.substr(0, 20));
  EXPECT_FALSE(read_audio_file(dir_ / "header_cut.wav"));
  write_bytes(dir_ / "data_cut.wav", bytes.substr(0, bytes.size() / 2));
  auto cut = read_audio_file(dir_ / "data_cut.wav");
  if (cut) {
    EXPECT_LT(cut->samples.size(), 1000u);  // libsndfile reads what is there
  }

  EXPECT_FALSE(read_audio_file(dir_));  // a directory
}

TEST(Resample, RejectsBadRates) {
  const std::vector<float> samples(100, 0.0f);
  EXPECT_FALSE(resample(samples, 0, 16000));
  EXPECT_FALSE(resample(samples, 16000, 0));
  EXPECT_FALSE(resample(samples, 1, 16000));  // ratio 16000 is beyond libsamplerate's 256
  auto same = resample(samples, 16000, 16000);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->size(), 100u);
}

}  // namespace
}  // namespace ferrum::audio
