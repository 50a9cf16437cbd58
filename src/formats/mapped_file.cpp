#include "formats/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ferrum {

Expected<std::shared_ptr<const MappedFile>> MappedFile::open(const std::filesystem::path& path) {
  const std::string name = path.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const ErrorCode code = errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo;
    return make_error(code, "cannot open ", name, ": ", std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int saved = errno;
    ::close(fd);
    return make_error(ErrorCode::kIo, "cannot stat ", name, ": ", std::strerror(saved));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return make_error(ErrorCode::kInvalidArgument, name, " is not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->name_ = name;
  file->size_ = static_cast<size_t>(info.st_size);
  if (file->size_ > 0) {
    // MAP_PRIVATE + PROT_READ: nothing is read now; the kernel pages bytes in on first touch.
    void* address = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (address == MAP_FAILED) {
      const int saved = errno;
      ::close(fd);
      return make_error(ErrorCode::kIo, "cannot map ", name, " (", file->size_, " bytes): ", std::strerror(saved));
    }
    file->data_ = static_cast<const uint8_t*>(address);
    file->is_mmap_ = true;
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  return std::shared_ptr<const MappedFile>(std::move(file));
}

std::shared_ptr<const MappedFile> MappedFile::from_bytes(std::vector<uint8_t> bytes, std::string name) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->name_ = std::move(name);
  file->owned_ = std::move(bytes);
  file->data_ = file->owned_.data();
  file->size_ = file->owned_.size();
  return file;
}

MappedFile::~MappedFile() {
  if (is_mmap_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace ferrum
