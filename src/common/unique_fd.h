// UniqueFd owns a file descriptor and closes it once; full read/write helpers
// retry on EINTR and short transfers so callers never see partial I/O.
// Thread-safety: a UniqueFd is not shared; the helpers are reentrant.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace sparsync {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Each returns 0 on success or an errno value. read_full reports how many
// bytes it read before end of file in *got (a short read is not an error).
int read_full(int fd, void* buf, size_t len, size_t* got);
int write_full(int fd, const void* buf, size_t len);
int pread_full(int fd, void* buf, size_t len, uint64_t offset, size_t* got);
int pwrite_full(int fd, const void* buf, size_t len, uint64_t offset);

}  // namespace sparsync
