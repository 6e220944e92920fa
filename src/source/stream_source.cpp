#include "source/stream_source.h"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace sparsync {
namespace {

// Reads up to len bytes, stopping early only at end of input.
int read_up_to(int fd, uint8_t* buf, size_t len, size_t* got) {
  *got = 0;
  while (*got < len) {
    ssize_t n = ::read(fd, buf + *got, len - *got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) break;
    *got += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

Result<std::unique_ptr<StreamSource>> StreamSource::open(int fd, std::string name, std::optional<uint64_t> size) {
  std::optional<uint64_t> known;  // a redirect's own size
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_status(ErrorKind::kSource, "cannot stat " + name, errno);
  if (S_ISREG(st.st_mode)) {
    // A redirect starts where the shell left the offset, normally 0.
    off_t pos = ::lseek(fd, 0, SEEK_CUR);
    known = static_cast<uint64_t>(st.st_size) - static_cast<uint64_t>(pos > 0 ? pos : 0);
  } else if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
      return errno_status(ErrorKind::kSource, "cannot read the size of " + name, errno);
    }
    known = bytes;
  }
  std::string origin = "given by --size";
  if (size && known && *size != *known) {
    // Found now, before the target is touched, rather than when the input
    // ends early or runs long in the middle of the run.
    return Status(ErrorKind::kSource, name + " is a redirected file of " + std::to_string(*known) +
                                          " bytes, but --size says " + std::to_string(*size) +
                                          "; drop --size or give the file's size");
  }
  if (!size) {
    if (!known) {
      return Status(ErrorKind::kUsage, name +
                                           " is a pipe or terminal, so its size is unknown: give it with "
                                           "--size, e.g. --size 20G (the exact size in bytes of the image)");
    }
    origin = "it had when sparsync started";
    size = known;
  }
  return std::unique_ptr<StreamSource>(new StreamSource(fd, std::move(name), *size, std::move(origin)));
}

Status StreamSource::next_extent(uint64_t offset, uint64_t end, Extent* out) {
  *out = Extent{offset, end - offset, false};
  return Status::ok();
}

Status StreamSource::read_at(uint64_t offset, uint8_t* buf, size_t len) {
  if (offset != next_ || offset + len > size_) {
    return Status(ErrorKind::kInternal, name_ + " is a stream: read at offset " + std::to_string(offset) +
                                            " while the next byte is at " + std::to_string(next_));
  }
  size_t got = 0;
  int err = read_up_to(fd_, buf, len, &got);
  if (err != 0)
    return errno_status(ErrorKind::kSource, "read error on " + name_ + " at offset " + std::to_string(offset + got),
                        err);
  next_ += got;
  if (got != len) {
    return Status(ErrorKind::kSource, name_ + " ended after " + std::to_string(next_) + " bytes, before the " +
                                          std::to_string(size_) + " bytes " + size_origin_ + "; give the exact size");
  }
  if (next_ == size_) {
    uint8_t extra = 0;
    err = read_up_to(fd_, &extra, 1, &got);
    if (err != 0) return errno_status(ErrorKind::kSource, "read error on " + name_ + " at its end", err);
    if (got != 0) {
      return Status(ErrorKind::kSource, name_ + " holds more than the " + std::to_string(size_) + " bytes " +
                                            size_origin_ + "; give the exact size");
    }
  }
  return Status::ok();
}

}  // namespace sparsync
