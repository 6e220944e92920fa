// StreamSource: a source read once, front to back, from a file descriptor
// (stdin: `xzcat disk.img.xz | sparsync - host:/dev/sdb --size 20G`).
//
// SourceReader reads a source strictly in order from its start offset, so a
// stream needs no seeking: read_at accepts only the next offset and fails
// otherwise; next_extent reports everything as data (the planner still turns
// blocks of zeros into HOLE records, and skips blocks the target already has).
// The size is given (--size) or, when the descriptor is a redirected regular
// file or block device, taken from fstat or BLKGETSIZE64. Input that ends
// before the size, or goes on past it (one byte past the end is tried when
// the last byte has been read), is a source error (exit 3).
// identity() is empty: a checkpoint never matches a stream, so every run
// compares from offset 0, and a stream cannot be re-read for --verify or a
// retry. Writes are refused.
// Thread-safety: read_at from one thread at a time (the reader thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/device.h"
#include "source/read_only_source.h"

namespace sparsync {

class StreamSource : public ReadOnlySource {
 public:
  // `fd` is not owned. `size`: nullopt to take it from `fd`, which fails
  // (kUsage) for a pipe or terminal. `name` is what messages call it.
  static Result<std::unique_ptr<StreamSource>> open(int fd, std::string name, std::optional<uint64_t> size);

  const std::string& path() const override { return name_; }
  proto::DeviceKind kind() const override { return proto::DeviceKind::kRegularFile; }
  uint64_t size() const override { return size_; }
  Status next_extent(uint64_t offset, uint64_t end, Extent* out) override;
  Status read_at(uint64_t offset, uint8_t* buf, size_t len) override;

 private:
  StreamSource(int fd, std::string name, uint64_t size, std::string size_origin)
      : fd_(fd), name_(std::move(name)), size_(size), size_origin_(std::move(size_origin)) {}

  int fd_;
  std::string name_;
  uint64_t size_;
  std::string size_origin_;  // for messages: "given by --size", ...
  uint64_t next_ = 0;        // the only offset read_at accepts
};

}  // namespace sparsync
