// Reading audio files: WAV, FLAC, OGG/Vorbis (and whatever else the system's libsndfile reads),
// mixed down to mono floats in [-1, 1] (16-bit PCM becomes int16 / 32768), optionally resampled
// to the rate a model wants with libsamplerate.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"

namespace ferrum::audio {

struct AudioClip {
  std::vector<float> samples;  // mono
  size_t sample_rate = 0;      // Hz
  size_t source_channels = 0;  // channels in the file before the mix-down
};

// The whole file, mono, at its own rate. Files libsndfile cannot open or decode, files without
// samples and files with non-finite samples are errors naming the file.
Expected<AudioClip> read_audio_file(const std::filesystem::path& path);

// The same for a file held in memory (an upload); `name` labels it in errors.
Expected<AudioClip> read_audio_bytes(std::span<const uint8_t> bytes, const std::string& name);

// Band-limited sinc resampling of mono samples from `from_rate` to `to_rate` (Hz); a copy when the
// rates are equal.
Expected<std::vector<float>> resample(std::span<const float> samples, size_t from_rate, size_t to_rate);

// read_audio_file, then resample to `sample_rate`.
Expected<std::vector<float>> load_audio(const std::filesystem::path& path, size_t sample_rate);

}  // namespace ferrum::audio
