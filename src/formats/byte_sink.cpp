#include "formats/byte_sink.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

namespace ferrum {

Status ByteSink::append_zeros(size_t count) {
  static constexpr std::array<uint8_t, 256> kZeros{};
  while (count > 0) {
    const size_t chunk = std::min(count, kZeros.size());
    FERRUM_TRY(append({kZeros.data(), chunk}));
    count -= chunk;
  }
  return ok();
}

Status VectorSink::append(std::span<const uint8_t> bytes) {
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  return ok();
}

Status CountingSink::append(std::span<const uint8_t> bytes) {
  FERRUM_CHECK(bytes.size() <= limit_ - count_, ErrorCode::kShapeMismatch, what_, ": ", count_ + bytes.size(),
               " bytes written, but it holds only ", limit_);
  count_ += bytes.size();
  return inner_.append(bytes);
}

Status CountingSink::check_complete() const {
  FERRUM_CHECK(count_ == limit_, ErrorCode::kShapeMismatch, what_, ": ", count_, " bytes written, expected ", limit_);
  return ok();
}

Expected<std::unique_ptr<AtomicFileSink>> AtomicFileSink::create(const std::filesystem::path& path) {
  std::filesystem::path partial = path;
  partial += ".partial";
  std::FILE* file = std::fopen(partial.c_str(), "wb");
  if (file == nullptr) {
    return make_error(ErrorCode::kIo, "cannot create ", partial.string(), ": ", std::strerror(errno));
  }
  return std::unique_ptr<AtomicFileSink>(new AtomicFileSink(path, std::move(partial), file));
}

AtomicFileSink::~AtomicFileSink() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::error_code ignored;
    std::filesystem::remove(partial_, ignored);
  }
}

Status AtomicFileSink::append(std::span<const uint8_t> bytes) {
  if (file_ == nullptr) return make_error(ErrorCode::kInternal, "write to committed file ", path_.string());
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return make_error(ErrorCode::kIo, "cannot write ", partial_.string(), ": ", std::strerror(errno));
  }
  return ok();
}

Status AtomicFileSink::commit() {
  if (file_ == nullptr) return make_error(ErrorCode::kInternal, "file ", path_.string(), " committed twice");
  const bool flushed = std::fflush(file_) == 0;
  const int saved = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  std::error_code error;
  if (!flushed || !closed) {
    std::filesystem::remove(partial_, error);
    return make_error(ErrorCode::kIo, "cannot write ", partial_.string(), ": ", std::strerror(saved));
  }
  std::filesystem::rename(partial_, path_, error);
  if (error) {
    const std::string reason = error.message();
    std::filesystem::remove(partial_, error);
    return make_error(ErrorCode::kIo, "cannot rename ", partial_.string(), " to ", path_.string(), ": ", reason);
  }
  return ok();
}

}  // namespace ferrum
