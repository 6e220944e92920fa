#include "common/direct_writer.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace sparsync {

std::unique_ptr<DirectWriter> DirectWriter::open(int fd) {
  // Through /proc/self/fd: the same file this run locked, not whatever the
  // path names now.
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  UniqueFd direct(::open(self.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY));
  if (!direct.valid()) return nullptr;
  return std::unique_ptr<DirectWriter>(new DirectWriter(std::move(direct)));
}

DirectWriter::~DirectWriter() { std::free(bounce_); }

int DirectWriter::write(uint64_t offset, const uint8_t* buf, size_t len) {
  if (offset % kAlign != 0 || len % kAlign != 0) return EINVAL;
  std::lock_guard<std::mutex> lock(mu_);
  if (bounce_ == nullptr) {
    bounce_ = static_cast<uint8_t*>(std::aligned_alloc(kAlign, kBounceBytes));
    if (bounce_ == nullptr) return ENOMEM;
  }
  // DATA payloads sit at no particular address; one copy into an aligned
  // buffer that stays in the CPU cache is far cheaper than the page cache's.
  while (len > 0) {
    size_t n = std::min(len, kBounceBytes);
    std::memcpy(bounce_, buf, n);
    int err = pwrite_full(fd_.get(), bounce_, n, offset);
    if (err != 0) return err;
    buf += n;
    offset += n;
    len -= n;
  }
  return 0;
}

}  // namespace sparsync
