// Uploaded audio is decoded from memory: WAV, FLAC and OGG/Vorbis bodies (written here with
// libsndfile from a known tone) come back as the same samples, and junk is an error naming it.
#include <sndfile.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "audio/audio_file.h"

namespace ferrum::audio {
namespace {

// A growable in-memory file for libsndfile's writer.
struct Sink {
  std::vector<uint8_t> bytes;
  sf_count_t position = 0;

  static sf_count_t length(void* self) { return static_cast<sf_count_t>(static_cast<Sink*>(self)->bytes.size()); }
  static sf_count_t seek(sf_count_t offset, int whence, void* self) {
    auto& sink = *static_cast<Sink*>(self);
    const sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? sink.position : length(self);
    sink.position = base + offset;
    return sink.position;
  }
  static sf_count_t read(void* out, sf_count_t count, void* self) {
    auto& sink = *static_cast<Sink*>(self);
    const sf_count_t n = std::max<sf_count_t>(0, std::min(count, length(self) - sink.position));
    std::memcpy(out, sink.bytes.data() + sink.position, static_cast<size_t>(n));
    sink.position += n;
    return n;
  }
  static sf_count_t write(const void* data, sf_count_t count, void* self) {
    auto& sink = *static_cast<Sink*>(self);
    const size_t end = static_cast<size_t>(sink.position + count);
    if (sink.bytes.size() < end) sink.bytes.resize(end);
    std::memcpy(sink.bytes.data() + sink.position, data, static_cast<size_t>(count));
    sink.position += count;
    return count;
  }
  static sf_count_t tell(void* self) { return static_cast<Sink*>(self)->position; }
};

std::vector<float> tone(size_t count, size_t rate) {
  std::vector<float> samples(count);
  for (size_t i = 0; i < count; ++i) samples[i] = 0.5f * std::sin(2.0 * M_PI * 440.0 * i / rate);
  return samples;
}

std::vector<uint8_t> encode(int format, const std::vector<float>& samples, int rate) {
  Sink sink;
  SF_VIRTUAL_IO io{&Sink::length, &Sink::seek, &Sink::read, &Sink::write, &Sink::tell};
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = format;
  SNDFILE* file = sf_open_virtual(&io, SFM_WRITE, &info, &sink);
  EXPECT_NE(file, nullptr) << sf_strerror(nullptr);
  if (!file) return {};
  sf_writef_float(file, samples.data(), static_cast<sf_count_t>(samples.size()));
  sf_close(file);
  return sink.bytes;
}

TEST(AudioUpload, WavFlacAndOggDecodeFromMemory) {
  const size_t rate = 16000;
  const std::vector<float> samples = tone(rate / 2, rate);
  const struct {
    const char* name;
    int format;
    float tolerance;
  } formats[] = {
      {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1e-4f},
      {"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1e-4f},
      {"ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0.05f},  // lossy
  };
  for (const auto& format : formats) {
    const std::vector<uint8_t> bytes = encode(format.format, samples, static_cast<int>(rate));
    ASSERT_FALSE(bytes.empty()) << format.name;
    auto clip = read_audio_bytes(bytes, format.name);
    ASSERT_TRUE(clip) << format.name << ": " << clip.error().to_string();
    EXPECT_EQ(clip->sample_rate, rate);
    ASSERT_GE(clip->samples.size(), samples.size() - 64) << format.name;
    // Vorbis delays and smears the start; compare the settled middle.
    float worst = 0;
    for (size_t i = 2000; i < 6000; ++i) worst = std::max(worst, std::fabs(clip->samples[i] - samples[i]));
    EXPECT_LT(worst, format.tolerance) << format.name;
  }
}

TEST(AudioUpload, TheFixtureWavMatchesTheFileReader) {
  const std::string path = std::string(FERRUM_FIXTURES_DIR) + "/whisper-mel/speech_22k.wav";
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  const std::string bytes = content.str();
  auto from_memory = read_audio_bytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "upload");
  auto from_file = read_audio_file(path);
  ASSERT_TRUE(from_memory && from_file);
  EXPECT_EQ(from_memory->samples, from_file->samples);
  EXPECT_EQ(from_memory->sample_rate, 22050u);
}

TEST(AudioUpload, JunkIsAnErrorNamingTheUpload) {
  const std::string junk = "definitely not audio";
  auto clip = read_audio_bytes({reinterpret_cast<const uint8_t*>(junk.data()), junk.size()}, "the uploaded file");
  ASSERT_FALSE(clip);
  EXPECT_NE(clip.error().message().find("the uploaded file"), std::string::npos);
  EXPECT_FALSE(read_audio_bytes({}, "empty"));
}

}  // namespace
}  // namespace ferrum::audio
