#include "audio/audio_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include <samplerate.h>
#include <sndfile.h>

namespace ferrum::audio {
namespace {

struct SndfileCloser {
  void operator()(SNDFILE* file) const { sf_close(file); }
};
using SndfileHandle = std::unique_ptr<SNDFILE, SndfileCloser>;

// Frames read per libsndfile call: large enough to amortise the call, small enough that a file
// whose header lies about its length costs no more memory than it really holds.
constexpr size_t kReadFrames = 1 << 16;

}  // namespace

namespace {

// Decodes an opened file, naming it `name` in errors.
Expected<AudioClip> decode(SNDFILE* handle, const SF_INFO& info, const std::string& name) {
  SndfileHandle file(handle);
  FERRUM_CHECK(file != nullptr, ErrorCode::kParse, name, ": cannot read as audio (", sf_strerror(nullptr), ")");
  FERRUM_CHECK(info.channels > 0 && info.samplerate > 0, ErrorCode::kParse, name, ": header gives ", info.channels,
               " channels at ", info.samplerate, " Hz");
  // Integer PCM is scaled by 1 / 2^(bits - 1), the convention of soundfile / torchaudio.
  sf_command(file.get(), SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);

  const size_t channels = static_cast<size_t>(info.channels);
  AudioClip clip;
  clip.sample_rate = static_cast<size_t>(info.samplerate);
  clip.source_channels = channels;
  std::vector<float> block(kReadFrames * channels);
  while (true) {
    const sf_count_t read = sf_readf_float(file.get(), block.data(), static_cast<sf_count_t>(kReadFrames));
    FERRUM_CHECK(read >= 0, ErrorCode::kParse, name, ": ", sf_strerror(file.get()));
    if (read == 0) break;
    for (size_t frame = 0; frame < static_cast<size_t>(read); ++frame) {
      double sum = 0.0;
      for (size_t c = 0; c < channels; ++c) sum += block[frame * channels + c];
      const float mono = static_cast<float>(sum / static_cast<double>(channels));
      FERRUM_CHECK(std::isfinite(mono), ErrorCode::kParse, name, ": sample ", clip.samples.size(),
                   " is not a finite number");
      clip.samples.push_back(mono);
    }
  }
  FERRUM_CHECK(sf_error(file.get()) == SF_ERR_NO_ERROR, ErrorCode::kParse, name, ": ", sf_strerror(file.get()));
  FERRUM_CHECK(!clip.samples.empty(), ErrorCode::kParse, name, ": the file holds no samples");
  return clip;
}

// libsndfile's virtual I/O over a byte buffer held in memory.
struct MemoryFile {
  std::span<const uint8_t> bytes;
  sf_count_t position = 0;

  static sf_count_t length(void* self) { return static_cast<sf_count_t>(static_cast<MemoryFile*>(self)->bytes.size()); }
  static sf_count_t seek(sf_count_t offset, int whence, void* self) {
    auto& file = *static_cast<MemoryFile*>(self);
    const sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? file.position : length(self);
    file.position = std::clamp<sf_count_t>(base + offset, 0, length(self));
    return file.position;
  }
  static sf_count_t read(void* out, sf_count_t count, void* self) {
    auto& file = *static_cast<MemoryFile*>(self);
    const sf_count_t available = std::max<sf_count_t>(0, length(self) - file.position);
    const sf_count_t n = std::min(count, available);
    std::memcpy(out, file.bytes.data() + file.position, static_cast<size_t>(n));
    file.position += n;
    return n;
  }
  static sf_count_t write(const void*, sf_count_t, void*) { return 0; }
  static sf_count_t tell(void* self) { return static_cast<MemoryFile*>(self)->position; }
};

}  // namespace

Expected<AudioClip> read_audio_file(const std::filesystem::path& path) {
  std::error_code error;
  FERRUM_CHECK(std::filesystem::is_regular_file(path, error), ErrorCode::kNotFound, path.string(),
               ": no such audio file");
  SF_INFO info{};
  SNDFILE* handle = sf_open(path.c_str(), SFM_READ, &info);
  return decode(handle, info, path.string());
}

Expected<AudioClip> read_audio_bytes(std::span<const uint8_t> bytes, const std::string& name) {
  FERRUM_CHECK(!bytes.empty(), ErrorCode::kParse, name, ": the audio file is empty");
  MemoryFile file{bytes};
  SF_VIRTUAL_IO io{&MemoryFile::length, &MemoryFile::seek, &MemoryFile::read, &MemoryFile::write, &MemoryFile::tell};
  SF_INFO info{};
  SNDFILE* handle = sf_open_virtual(&io, SFM_READ, &info, &file);
  return decode(handle, info, name);
}

Expected<std::vector<float>> resample(std::span<const float> samples, size_t from_rate, size_t to_rate) {
  FERRUM_CHECK(from_rate > 0 && to_rate > 0, ErrorCode::kInvalidArgument, "resample: rates must be positive (from ",
               from_rate, " Hz to ", to_rate, " Hz)");
  if (from_rate == to_rate) return std::vector<float>(samples.begin(), samples.end());
  const double ratio = static_cast<double>(to_rate) / static_cast<double>(from_rate);
  FERRUM_CHECK(src_is_valid_ratio(ratio), ErrorCode::kUnsupported, "resample: ", from_rate, " Hz to ", to_rate,
               " Hz is outside the ratios libsamplerate supports");
  const size_t max_frames = static_cast<size_t>(std::numeric_limits<long>::max() / 2);
  FERRUM_CHECK(samples.size() < max_frames, ErrorCode::kLimitExceeded, "resample: ", samples.size(),
               " samples are too many");
  // libsamplerate produces about len * ratio frames; one more absorbs the rounding.
  std::vector<float> out(static_cast<size_t>(std::ceil(static_cast<double>(samples.size()) * ratio)) + 1);
  SRC_DATA data{};
  data.data_in = samples.data();
  data.data_out = out.data();
  data.input_frames = static_cast<long>(samples.size());
  data.output_frames = static_cast<long>(out.size());
  data.src_ratio = ratio;
  data.end_of_input = 1;
  const int status = src_simple(&data, SRC_SINC_BEST_QUALITY, 1);
  FERRUM_CHECK(status == 0, ErrorCode::kInternal, "resample: libsamplerate failed: ", src_strerror(status));
  out.resize(static_cast<size_t>(data.output_frames_gen));
  return out;
}

Expected<std::vector<float>> load_audio(const std::filesystem::path& path, size_t sample_rate) {
  FERRUM_ASSIGN_OR_RETURN(AudioClip clip, read_audio_file(path));
  auto resampled = resample(clip.samples, clip.sample_rate, sample_rate);
  if (!resampled) return std::move(resampled).error().with_context(path.string());
  return resampled;
}

}  // namespace ferrum::audio
