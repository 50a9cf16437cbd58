// Destinations for the GGUF and safetensors writers: a growing byte vector (tests, fuzz seeds) or a
// file written next to its final path and renamed into place on success, so an interrupted write
// never leaves a truncated model where a reader would pick it up.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"

namespace ferrum {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status append(std::span<const uint8_t> bytes) = 0;
  Status append_zeros(size_t count);
  template <class T>
  Status append_value(const T& value) {
    return append({reinterpret_cast<const uint8_t*>(&value), sizeof value});
  }
};

class VectorSink final : public ByteSink {
 public:
  Status append(std::span<const uint8_t> bytes) override;
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

// Passes bytes to `inner` and counts them, refusing to pass more than `limit`: streamed tensor
// producers write through it, so a producer that writes too much or too little is caught at the
// tensor it got wrong rather than as a corrupt file.
class CountingSink final : public ByteSink {
 public:
  CountingSink(ByteSink& inner, size_t limit, std::string what)
      : inner_(inner), limit_(limit), what_(std::move(what)) {}
  Status append(std::span<const uint8_t> bytes) override;
  size_t count() const { return count_; }
  // Fails unless exactly `limit` bytes went through.
  Status check_complete() const;

 private:
  ByteSink& inner_;
  size_t limit_;
  std::string what_;
  size_t count_ = 0;
};

// Writes to "<path>.partial"; commit() renames it to `path`. Destroyed without commit, it removes
// the partial file.
class AtomicFileSink final : public ByteSink {
 public:
  static Expected<std::unique_ptr<AtomicFileSink>> create(const std::filesystem::path& path);
  ~AtomicFileSink() override;
  Status append(std::span<const uint8_t> bytes) override;
  Status commit();

 private:
  AtomicFileSink(std::filesystem::path path, std::filesystem::path partial, std::FILE* file)
      : path_(std::move(path)), partial_(std::move(partial)), file_(file) {}

  std::filesystem::path path_;
  std::filesystem::path partial_;
  std::FILE* file_;
};

}  // namespace ferrum
