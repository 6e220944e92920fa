// Device: a disk image file or a block device, seen as a byte array with
// holes. The engines use only this interface, so tests can substitute an
// in-memory or fault-injecting fake (tests/support).
//
// FileDevice is the real one. It maps extents with SEEK_DATA/SEEK_HOLE
// (downgrading to "all data" where the filesystem or a block device cannot
// say), and zeroes ranges with the cheapest method that works, learned once
// per run and downgraded on "not supported" (the libnbd/nbdcopy cascade):
//   file:   punch hole -> fallocate ZERO_RANGE -> write zeros
//   device: fallocate PUNCH_HOLE (zeroes, never falls back) -> ZERO_RANGE ->
//           BLKZEROOUT -> write zeros
// Large writes can bypass the page cache (enable_direct_writes, for targets),
// and so can large reads of what is not cached (enable_cold_reads).
// Read, write and flush errors are never downgraded: they fail loudly.
// Thread-safety: read_at/write_at/zero_range/next_extent may be called from
// different threads at once (pread/pwrite); open/close/set_size may not.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/direct_reader.h"
#include "common/direct_writer.h"
#include "common/image_lock.h"
#include "common/proto/protocol_constants.h"
#include "common/safe_path.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace sparsync {

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool hole = false;  // true: reads as zeros and need not be read
};

class Device {
 public:
  virtual ~Device() = default;
  virtual const std::string& path() const = 0;
  virtual proto::DeviceKind kind() const = 0;
  virtual uint64_t size() const = 0;
  // The extent that starts at `offset`, clipped to `end` (offset < end).
  virtual Status next_extent(uint64_t offset, uint64_t end, Extent* out) = 0;
  // Reads exactly len bytes; a short read (the device shrank) is an error.
  virtual Status read_at(uint64_t offset, uint8_t* buf, size_t len) = 0;
  virtual Status write_at(uint64_t offset, const uint8_t* buf, size_t len) = 0;
  virtual Status zero_range(uint64_t offset, uint64_t length) = 0;
  virtual Status sync() = 0;
  // Hints for a long run of writes (WriteBehind): start writing a range back
  // to storage now, or wait until an earlier start has finished. Neither
  // makes anything durable (sync() does) nor reports errors (sync() will),
  // so a device may ignore them; the fakes in tests do.
  virtual void start_writeback(uint64_t /*offset*/, uint64_t /*length*/) {}
  virtual void wait_writeback(uint64_t /*offset*/, uint64_t /*length*/) {}
  // Regular files only: truncate or extend (the extension is a hole).
  virtual Status set_size(uint64_t size) = 0;
  virtual proto::ZeroMethod zero_method() const = 0;
  // What names this image across runs, for matching a checkpoint: for a file
  // its device, inode, size, mtime and ctime (which no user can set back:
  // `touch -r` restores mtime, and changes ctime); for a block device its
  // device number and size. Taken when the device was opened. Empty when
  // unknown (then a checkpoint never matches).
  virtual std::string identity() const { return {}; }
  // The same, as the image is now (a target's state for its record).
  virtual std::string current_identity() const { return identity(); }
  // A source: fails (kSource) when the image changed since it was opened
  // (for a file: its size, mtime or ctime moved), the way tar notices "file
  // changed as we read it". Devices that cannot tell say nothing.
  virtual Status check_unchanged() const { return Status::ok(); }
  // Permission bits (07777) of a regular file; 0 when unknown.
  virtual uint32_t permissions() const { return 0; }
};

// The identity (Device::identity()) of the file or block device open at
// `fd`, as it is now; "" for anything else, or when it cannot be told.
std::string identity_of_open(int fd);

class FileDevice : public Device {
 public:
  // Opens an existing file or block device: the name in the directory that
  // `where` resolved (common/safe_path.h), never following a symlink there,
  // and never blocking in open() (a FIFO is refused, not waited on).
  // `writable` opens O_RDWR and makes this run the image's only writer: it
  // is locked with flock(LOCK_EX), and a block device is also opened O_EXCL
  // (the kernel refuses it while mounted or held by another user). A source
  // (`writable` false) takes flock(LOCK_SH), so a sparsync run never reads
  // an image that another run is writing, nor writes one another is
  // reading. Another holder makes it fail at once, naming the holder; with
  // `wait_for_exclusive` (an automatic retry, whose own previous run may
  // still be winding down) it waits up to kExclusiveWaitSeconds first.
  // `role` says which side errors blame.
  static Result<std::unique_ptr<FileDevice>> open(const ResolvedPath& where, bool writable, ErrorKind role,
                                                  bool wait_for_exclusive = false);
  // The same for a path, resolved first (no extra trust).
  static Result<std::unique_ptr<FileDevice>> open(const std::string& path, bool writable, ErrorKind role,
                                                  bool wait_for_exclusive = false);
  // Creates a new regular file in `where` (O_EXCL|O_NOFOLLOW, permission
  // bits `mode` less umask), locked, sized `size` as one hole.
  static Result<std::unique_ptr<FileDevice>> create(const ResolvedPath& where, uint64_t size, uint32_t mode);
  // The same for a path, resolved first.
  static Result<std::unique_ptr<FileDevice>> create(const std::string& path, uint64_t size, uint32_t mode = 0600);
  // A new file with no name yet (O_TMPFILE in `where`'s directory), locked
  // and sized, so that its checkpoint record can be written before anything
  // appears at the target's name; publish() then links it there. A null
  // result (and an ok status) means the filesystem has no O_TMPFILE: use
  // create() instead.
  static Result<std::unique_ptr<FileDevice>> create_unnamed(const ResolvedPath& where, uint64_t size, uint32_t mode);
  // Links a file from create_unnamed() at `where`'s name; fails (kTarget)
  // when something appeared there meanwhile, leaving it untouched.
  Status publish(const ResolvedPath& where);

  const std::string& path() const override { return path_; }
  proto::DeviceKind kind() const override { return kind_; }
  uint64_t size() const override { return size_; }
  Status next_extent(uint64_t offset, uint64_t end, Extent* out) override;
  Status read_at(uint64_t offset, uint8_t* buf, size_t len) override;
  Status write_at(uint64_t offset, const uint8_t* buf, size_t len) override;
  Status zero_range(uint64_t offset, uint64_t length) override;
  Status sync() override;
  void start_writeback(uint64_t offset, uint64_t length) override;
  void wait_writeback(uint64_t offset, uint64_t length) override;
  Status set_size(uint64_t size) override;
  proto::ZeroMethod zero_method() const override;
  std::string identity() const override { return identity_; }
  std::string current_identity() const override;
  Status check_unchanged() const override;
  uint32_t permissions() const override { return permissions_; }
  int fd() const { return fd_.get(); }
  // From now on, writes of DirectWriter::kMinBytes or more bypass the page
  // cache (common/direct_writer.h). Returns false, and changes nothing, where
  // the filesystem refuses O_DIRECT.
  bool enable_direct_writes();
  bool direct_writes() const { return direct_ != nullptr && direct_ok_.load(); }
  // From now on, a read of kColdReadMinBytes or more that is not mostly in
  // the page cache (common/cache_residency.h) goes around it
  // (common/direct_reader.h); one that is, is served from it. Where the file
  // refuses O_DIRECT (tmpfs), such a read goes through the cache and is
  // dropped from it afterwards (POSIX_FADV_DONTNEED). Either way a run leaves
  // the cache as it found it. Returns false where O_DIRECT was refused.
  // `try_direct` false takes the fallback outright (tests: tmpfs accepts
  // O_DIRECT since Linux 6.6, so no filesystem at hand refuses it).
  bool enable_cold_reads(bool try_direct = true);
  static constexpr size_t kColdReadMinBytes = 64 << 10;
  // Bytes read around the page cache so far (for -v and tests).
  uint64_t direct_read_bytes() const { return direct_read_bytes_.load(); }

 private:
  FileDevice(std::string path, UniqueFd fd, proto::DeviceKind kind, uint64_t size, ErrorKind role);
  Status try_zero(proto::ZeroMethod method, uint64_t offset, uint64_t length, int* err);
  // A cold read (enable_cold_reads): around the cache, or through it and
  // then dropped. *done false: read it the ordinary way.
  Status read_cold(uint64_t offset, uint8_t* buf, size_t len, bool* done);
  Status read_cached(uint64_t offset, uint8_t* buf, size_t len);
  void written(uint64_t offset, uint64_t length) {
    if (reader_ != nullptr) reader_->invalidate(offset, length);
  }
  void note_cold_write(uint64_t offset, uint64_t length);
  // Drops the noted ranges inside [offset, end) from the cache (written
  // back by now: what is still dirty stays, nothing is lost).
  void drop_cold_writes(uint64_t offset, uint64_t end);

  std::string path_;
  UniqueFd fd_;
  proto::DeviceKind kind_;
  uint64_t size_;
  ErrorKind role_;
  std::atomic<bool> seek_data_works_{true};
  std::atomic<int> zero_step_;  // index into the cascade: the best method not yet found unsupported
  std::atomic<bool> zeroed_any_{false};
  std::string identity_;
  uint32_t permissions_ = 0;
  std::unique_ptr<DirectWriter> direct_;
  std::atomic<bool> direct_ok_{false};  // cleared if the file refuses an aligned direct write
  bool cold_reads_ = false;
  std::unique_ptr<DirectReader> reader_;
  std::atomic<bool> reader_ok_{false};  // cleared if the file refuses a direct read
  std::atomic<uint64_t> direct_read_bytes_{0};
  // Cold mode: ranges written through the cache that were not cached
  // before, dropped from it once written back (wait_writeback, sync).
  std::mutex cold_writes_mu_;
  std::vector<std::pair<uint64_t, uint64_t>> cold_writes_;  // [begin, end), in the order written
};

// FileDevice::enable_cold_reads, saying under -v when O_DIRECT is refused.
void enable_cold_reads(FileDevice& device);

// Human-readable name of a zeroing method, for -v and the summary.
const char* zero_method_name(proto::ZeroMethod method);

}  // namespace sparsync
