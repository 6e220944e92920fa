#include "common/device.h"

#include "common/cache_residency.h"
#include "common/image_lock.h"
#include "common/log.h"
#include "common/space_advice.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iterator>
#include <vector>

namespace sparsync {
namespace {

// Errors that mean "this method is not available here", not "the disk failed".
// EINVAL is not one of them: it also means a bad range, and treating that as
// "unsupported" would silently downgrade the whole run to writing zeros.
bool is_unsupported(int err) {
  return err == EOPNOTSUPP || err == ENOTSUP || err == ENOSYS || err == ENOTTY || err == ENODEV;
}

// A write, zero or flush that failed; out of space, with what to free.
Status write_failure(ErrorKind role, const std::string& what, int err, int fd, uint64_t image_size) {
  Status failed = errno_status(role, what, err);
  if (err != ENOSPC) return failed;
  return Status(role, failed.message() + no_space_advice(fd, image_size));
}

// What cannot be an image, said so that the user knows what to do instead.
Status refuse_kind(const std::string& path, mode_t mode, ErrorKind role) {
  if (S_ISDIR(mode) && role == ErrorKind::kTarget) {
    return Status(role, path + " is a directory; give the name of an image file inside it (" + path +
                            (path.back() == '/' ? "" : "/") + "NAME.img), or the path of a block device");
  }
  if (S_ISDIR(mode)) return Status(role, path + " is a directory; give the path of an image file or block device");
  if (S_ISFIFO(mode)) {
    return Status(role, path +
                            " is a FIFO; sparsync reads a pipe only as its standard input: "
                            "`sparsync - TARGET --size SIZE < " +
                            path + "`");
  }
  return Status(role, path + " is neither a regular file nor a block device");
}

std::string file_identity(const struct stat& st) {
  return "file:" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) +
         ":" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
         std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
}

std::string device_identity(const struct stat& st, uint64_t size) {
  return "blockdev:" + std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev)) + ":" +
         std::to_string(size);
}

std::string at(const std::string& path, uint64_t offset) { return path + " at offset " + std::to_string(offset); }

}  // namespace

// The zeroing cascade, cheapest first (see device.h): its order is ours,
// not the numbering of the wire's ZeroMethod codes, which only report it.
constexpr proto::ZeroMethod kZeroCascade[] = {proto::ZeroMethod::kPunchHole, proto::ZeroMethod::kZeroRange,
                                              proto::ZeroMethod::kBlkZeroOut, proto::ZeroMethod::kWriteZeros};

const char* zero_method_name(proto::ZeroMethod method) {
  switch (method) {
    case proto::ZeroMethod::kNone:
      return "none";
    case proto::ZeroMethod::kPunchHole:
      return "punch-hole";
    case proto::ZeroMethod::kZeroRange:
      return "zero-range";
    case proto::ZeroMethod::kBlkZeroOut:
      return "blkzeroout";
    case proto::ZeroMethod::kWriteZeros:
      return "write-zeros";
  }
  return "unknown";
}

FileDevice::FileDevice(std::string path, UniqueFd fd, proto::DeviceKind kind, uint64_t size, ErrorKind role)
    : path_(std::move(path)), fd_(std::move(fd)), kind_(kind), size_(size), role_(role), zero_step_(0) {}

Result<std::unique_ptr<FileDevice>> FileDevice::open(const std::string& path, bool writable, ErrorKind role,
                                                     bool wait_for_exclusive) {
  auto where = resolve_path(path, role);
  if (!where.is_ok()) return where.status();
  return open(where.value(), writable, role, wait_for_exclusive);
}

Result<std::unique_ptr<FileDevice>> FileDevice::open(const ResolvedPath& where, bool writable, ErrorKind role,
                                                     bool wait_for_exclusive) {
  const std::string path = where.given.empty() ? where.shown() : where.given;
  const int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW;
  // What is not an image is refused before it is opened: opening is not
  // harmless for everything (a watchdog is armed, a tape rewinds when
  // closed, a serial line drops DTR, a FIFO's waiting reader is released).
  struct stat seen {};
  if (::fstatat(where.dir.get(), where.name.c_str(), &seen, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno_status(role, "cannot open " + path, errno);
  }
  if (S_ISLNK(seen.st_mode)) {
    return Status(role, path + " became a symlink while it was being opened; run again");
  }
  if (!S_ISREG(seen.st_mode) && !S_ISBLK(seen.st_mode)) return refuse_kind(path, seen.st_mode, role);
  // O_NONBLOCK: should the name turn into a FIFO after all, open() must not hang.
  UniqueFd fd(::openat(where.dir.get(), where.name.c_str(), flags | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ELOOP) return Status(role, path + " became a symlink while it was being opened; run again");
    return errno_status(role, "cannot open " + path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_status(role, "cannot stat " + path, errno);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) return refuse_kind(path, st.st_mode, role);
  if (st.st_dev != seen.st_dev || st.st_ino != seen.st_ino) {
    return Status(role, path + " changed while it was being opened; run again");
  }
  if (S_ISBLK(st.st_mode) && writable) {
    // The kernel's exclusive claim: refused while mounted or held.
    UniqueFd excl;
    for (int waited = 0;; ++waited) {
      excl.reset(::openat(where.dir.get(), where.name.c_str(), flags | O_EXCL));
      if (excl.valid() || errno != EBUSY || !wait_for_exclusive || waited == kExclusiveWaitSeconds * 10) break;
      ::usleep(100000);
    }
    if (!excl.valid()) {
      if (errno == EBUSY) {
        return Status(role, "block device " + path +
                                " is in use (mounted, or held by another program or sparsync run); "
                                "unmount it or stop its user first");
      }
      return errno_status(role, "cannot open " + path + " exclusively", errno);
    }
    struct stat again {};
    if (::fstat(excl.get(), &again) != 0 || again.st_rdev != st.st_rdev || !S_ISBLK(again.st_mode)) {
      return Status(role, path + " changed while it was being opened; run again");
    }
    fd = std::move(excl);
  }
  if (::fcntl(fd.get(), F_SETFL, 0) != 0) return errno_status(role, "cannot open " + path, errno);
  SPARSYNC_RETURN_IF_ERROR(lock_image(fd.get(), path, role, writable, wait_for_exclusive));
  // The previous holder may have resized it while we waited.
  if (::fstat(fd.get(), &st) != 0) return errno_status(role, "cannot stat " + path, errno);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  proto::DeviceKind kind = proto::DeviceKind::kRegularFile;
  if (S_ISBLK(st.st_mode)) {
    kind = proto::DeviceKind::kBlockDevice;
    if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
      return errno_status(role, "cannot read the size of block device " + path, errno);
    }
  }
  if (!writable) ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::unique_ptr<FileDevice> dev(new FileDevice(path, std::move(fd), kind, size, role));
  if (kind == proto::DeviceKind::kRegularFile) {
    dev->identity_ = file_identity(st);
    dev->permissions_ = st.st_mode & 07777;
  } else {
    dev->identity_ = device_identity(st, size);
  }
  return dev;
}

Result<std::unique_ptr<FileDevice>> FileDevice::create(const ResolvedPath& where, uint64_t size, uint32_t mode) {
  const std::string path = where.given.empty() ? where.shown() : where.given;
  UniqueFd fd(::openat(where.dir.get(), where.name.c_str(),
                       O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode & 0777));
  if (!fd.valid()) {
    if (errno == EEXIST) return Status(ErrorKind::kTarget, path + " appeared while it was being created; run again");
    return errno_status(ErrorKind::kTarget, "cannot create " + path, errno);
  }
  SPARSYNC_RETURN_IF_ERROR(lock_image(fd.get(), path, ErrorKind::kTarget, true, false));
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    // An empty file left behind would read as a complete copy (no record
    // marks it): remove it again while the name still holds the one we made.
    Status s = errno_status(ErrorKind::kTarget, "cannot size new file " + path, errno);
    struct stat ours {
    }, named{};
    if (::fstat(fd.get(), &ours) == 0 &&
        ::fstatat(where.dir.get(), where.name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
        ours.st_dev == named.st_dev && ours.st_ino == named.st_ino) {
      (void)::unlinkat(where.dir.get(), where.name.c_str(), 0);
    }
    return s;
  }
  std::unique_ptr<FileDevice> dev(
      new FileDevice(path, std::move(fd), proto::DeviceKind::kRegularFile, size, ErrorKind::kTarget));
  struct stat st {};
  if (::fstat(dev->fd(), &st) == 0) {
    dev->identity_ = file_identity(st);
    dev->permissions_ = st.st_mode & 07777;
  }
  return dev;
}

Result<std::unique_ptr<FileDevice>> FileDevice::create_unnamed(const ResolvedPath& where, uint64_t size,
                                                               uint32_t mode) {
  const std::string path = where.given.empty() ? where.shown() : where.given;
  UniqueFd fd(::openat(where.dir.get(), ".", O_RDWR | O_TMPFILE | O_CLOEXEC | O_NOCTTY, mode & 0777));
  if (!fd.valid()) {
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) return std::unique_ptr<FileDevice>();
    return errno_status(ErrorKind::kTarget, "cannot create " + path, errno);
  }
  // Nobody else can reach it before publish(); the lock is taken now so
  // that it is already held when the name appears.
  SPARSYNC_RETURN_IF_ERROR(lock_image(fd.get(), path, ErrorKind::kTarget, true, false));
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return errno_status(ErrorKind::kTarget, "cannot size new file " + path, errno);
  }
  std::unique_ptr<FileDevice> dev(
      new FileDevice(path, std::move(fd), proto::DeviceKind::kRegularFile, size, ErrorKind::kTarget));
  struct stat st {};
  if (::fstat(dev->fd(), &st) == 0) {
    dev->identity_ = file_identity(st);
    dev->permissions_ = st.st_mode & 07777;
  }
  return dev;
}

Status FileDevice::publish(const ResolvedPath& where) {
  // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (root has it); /proc's link to
  // the descriptor works for anyone where /proc is mounted.
  int rc = ::linkat(fd_.get(), "", where.dir.get(), where.name.c_str(), AT_EMPTY_PATH);
  if (rc != 0 && errno != EEXIST) {
    const std::string self = "/proc/self/fd/" + std::to_string(fd_.get());
    rc = ::linkat(AT_FDCWD, self.c_str(), where.dir.get(), where.name.c_str(), AT_SYMLINK_FOLLOW);
  }
  if (rc == 0) return Status::ok();
  if (errno == EEXIST) return Status(ErrorKind::kTarget, path_ + " appeared while it was being created; run again");
  return errno_status(ErrorKind::kTarget, "cannot create " + path_, errno);
}

Result<std::unique_ptr<FileDevice>> FileDevice::create(const std::string& path, uint64_t size, uint32_t mode) {
  auto where = resolve_path(path, ErrorKind::kTarget);
  if (!where.is_ok()) return where.status();
  if (where.value().exists) return errno_status(ErrorKind::kTarget, "cannot create " + path, EEXIST);
  return create(where.value(), size, mode);
}

std::string identity_of_open(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {};
  if (S_ISREG(st.st_mode)) return file_identity(st);
  uint64_t size = 0;
  if (!S_ISBLK(st.st_mode) || ::ioctl(fd, BLKGETSIZE64, &size) != 0) return {};
  return device_identity(st, size);
}

std::string FileDevice::current_identity() const { return identity_of_open(fd_.get()); }

Status FileDevice::check_unchanged() const {
  std::string now = current_identity();
  if (now == identity_) return Status::ok();
  return Status(ErrorKind::kSource,
                path_ +
                    " changed while it was being read (its size, mtime or ctime moved), so the copy may mix "
                    "old and new blocks; the target stays resumable and the next run compares it again: "
                    "sync from a snapshot or a source nothing writes");
}

Status FileDevice::next_extent(uint64_t offset, uint64_t end, Extent* out) {
  out->offset = offset;
  out->hole = false;
  out->length = end - offset;
  if (kind_ != proto::DeviceKind::kRegularFile || !seek_data_works_.load()) return Status::ok();
  off_t data = ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) {
      // No data at or after offset: the rest is a hole, unless the file
      // shrank under us, in which case those bytes are gone, not zero.
      struct stat st {};
      if (::fstat(fd_.get(), &st) != 0) return errno_status(role_, "cannot stat " + path_, errno);
      if (static_cast<uint64_t>(st.st_size) < end) {
        return Status(role_, path_ + " shrank to " + std::to_string(st.st_size) + " bytes during the run (it had " +
                                 std::to_string(size_) + ")");
      }
      out->hole = true;
      return Status::ok();
    }
    if (is_unsupported(errno)) {
      seek_data_works_.store(false);
      return Status::ok();
    }
    return errno_status(role_, "cannot map extents of " + at(path_, offset), errno);
  }
  if (static_cast<uint64_t>(data) > offset) {
    out->hole = true;
    out->length = std::min<uint64_t>(static_cast<uint64_t>(data), end) - offset;
    return Status::ok();
  }
  off_t hole = ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_HOLE);
  if (hole < 0) return errno_status(role_, "cannot map extents of " + at(path_, offset), errno);
  out->length = std::min<uint64_t>(static_cast<uint64_t>(hole), end) - offset;
  if (out->length == 0) out->length = end - offset;  // file grew or raced: treat as data
  return Status::ok();
}

bool FileDevice::enable_cold_reads(bool try_direct) {
  cold_reads_ = true;
  // No readahead through this descriptor: it would cache what follows a
  // read, which then looks cached to the next one and stays (on vda here,
  // 8 MiB ahead of every read). Large cold reads do not need it (they go
  // around the cache, a few windows ahead), cached ones find their pages,
  // and small reads (the undo journal's) are scattered.
  (void)::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_RANDOM);
  if (try_direct) reader_ = DirectReader::open(fd_.get(), size_);
  reader_ok_.store(reader_ != nullptr);
  return reader_ != nullptr;
}

void enable_cold_reads(FileDevice& device) {
  // Only the exception is worth a line: the rule is in docs/usage.md.
  if (!device.enable_cold_reads()) {
    log::verbose("reading " + device.path() +
                 " through the page cache (its filesystem refuses O_DIRECT); what was not cached is dropped after use");
  }
}

Status FileDevice::read_cold(uint64_t offset, uint8_t* buf, size_t len, bool* done) {
  *done = false;
  if (!cold_reads_) return Status::ok();
  // Per read, not per run: an image half in the cache (a VM's hot blocks)
  // reads its cached ranges from memory and the rest from the disk.
  if (mostly_cached(fd_.get(), offset, len)) return Status::ok();
  // Small reads (the undo journal's old blocks) take the fallback: one
  // synchronous direct read each would cost as much and need alignment.
  if (len >= kColdReadMinBytes && reader_ok_.load()) {
    size_t got = 0;
    int err = reader_->read(offset, buf, len, &got);
    if (err == EINVAL) {
      reader_ok_.store(false);  // another alignment wanted: the fallback below from now on
    } else if (err != 0) {
      return errno_status(role_, "read error on " + at(path_, offset), err);
    } else if (got != len) {
      return Status(role_, path_ + " ended at offset " + std::to_string(offset + got) +
                               " while reading: it shrank during the run");
    } else {
      direct_read_bytes_.fetch_add(len);
      *done = true;
      return Status::ok();
    }
  }
  // The fallback: through the cache, then out of it again. Only clean pages
  // are dropped, so this never loses a write.
  SPARSYNC_RETURN_IF_ERROR(read_cached(offset, buf, len));
  (void)::posix_fadvise(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_DONTNEED);
  *done = true;
  return Status::ok();
}

Status FileDevice::read_at(uint64_t offset, uint8_t* buf, size_t len) {
  bool done = false;
  SPARSYNC_RETURN_IF_ERROR(read_cold(offset, buf, len, &done));
  if (done) return Status::ok();
  return read_cached(offset, buf, len);
}

Status FileDevice::read_cached(uint64_t offset, uint8_t* buf, size_t len) {
  size_t got = 0;
  int err = pread_full(fd_.get(), buf, len, offset, &got);
  if (err != 0) return errno_status(role_, "read error on " + at(path_, offset), err);
  if (got != len) {
    return Status(
        role_, path_ + " ended at offset " + std::to_string(offset + got) + " while reading: it shrank during the run");
  }
  return Status::ok();
}

bool FileDevice::enable_direct_writes() {
  direct_ = DirectWriter::open(fd_.get());
  direct_ok_.store(direct_ != nullptr);
  return direct_ != nullptr;
}

Status FileDevice::write_at(uint64_t offset, const uint8_t* buf, size_t len) {
  written(offset, len);
  if (len >= DirectWriter::kMinBytes && offset % DirectWriter::kAlign == 0 && direct_writes()) {
    // The aligned front goes direct, an unaligned tail (the image's last
    // partial block) through the page cache.
    const size_t aligned = len / DirectWriter::kAlign * DirectWriter::kAlign;
    int err = direct_->write(offset, buf, aligned);
    if (err == 0) {
      offset += aligned;
      buf += aligned;
      len -= aligned;
    } else if (err == EINVAL) {
      // This file wants another alignment: buffered from now on, this range
      // included (rewriting what a partial direct write may have put there).
      direct_ok_.store(false);
    } else {
      return write_failure(role_, "write error on " + at(path_, offset), err, fd_.get(), size_);
    }
    if (len == 0) return Status::ok();
  }
  if (cold_reads_) note_cold_write(offset, len);
  int err = pwrite_full(fd_.get(), buf, len, offset);
  if (err != 0) return write_failure(role_, "write error on " + at(path_, offset), err, fd_.get(), size_);
  return Status::ok();
}

void FileDevice::note_cold_write(uint64_t offset, uint64_t length) {
  // What was cached before this write stays cached after it.
  if (mostly_cached(fd_.get(), offset, length)) return;
  std::lock_guard<std::mutex> lock(cold_writes_mu_);
  if (!cold_writes_.empty() && cold_writes_.back().second == offset) {
    cold_writes_.back().second = offset + length;
    return;
  }
  // Bounded whatever the run: WriteBehind drops them every 32 MiB written,
  // so this cap (2 MiB of ranges) is only a backstop.
  constexpr size_t kMaxColdWrites = 1 << 17;
  if (cold_writes_.size() >= kMaxColdWrites) {
    for (const auto& [begin, end] : cold_writes_) {
      (void)::posix_fadvise(fd_.get(), static_cast<off_t>(begin), static_cast<off_t>(end - begin), POSIX_FADV_DONTNEED);
    }
    cold_writes_.clear();
  }
  cold_writes_.emplace_back(offset, offset + length);
}

void FileDevice::drop_cold_writes(uint64_t offset, uint64_t end) {
  std::lock_guard<std::mutex> lock(cold_writes_mu_);
  auto kept = cold_writes_.begin();
  for (const auto& range : cold_writes_) {
    if (range.first >= offset && range.second <= end) {
      (void)::posix_fadvise(fd_.get(), static_cast<off_t>(range.first), static_cast<off_t>(range.second - range.first),
                            POSIX_FADV_DONTNEED);
    } else {
      *kept++ = range;
    }
  }
  cold_writes_.erase(kept, cold_writes_.end());
}

Status FileDevice::try_zero(proto::ZeroMethod method, uint64_t offset, uint64_t length, int* err) {
  *err = 0;
  int rc = 0;
  switch (method) {
    case proto::ZeroMethod::kPunchHole:
      rc = ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                       static_cast<off_t>(length));
      break;
    case proto::ZeroMethod::kZeroRange:
      rc = ::fallocate(fd_.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                       static_cast<off_t>(length));
      break;
    case proto::ZeroMethod::kBlkZeroOut: {
      if (kind_ != proto::DeviceKind::kBlockDevice) {
        rc = -1;
        errno = ENOTTY;
        break;
      }
      uint64_t range[2] = {offset, length};
      rc = ::ioctl(fd_.get(), BLKZEROOUT, range);
      break;
    }
    case proto::ZeroMethod::kWriteZeros: {
      static const std::vector<uint8_t> zeros(1 << 20, 0);
      while (length > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(length, zeros.size()));
        Status s = write_at(offset, zeros.data(), n);
        if (!s.is_ok()) return s;
        offset += n;
        length -= n;
      }
      return Status::ok();
    }
    case proto::ZeroMethod::kNone:
      break;
  }
  if (rc != 0) *err = errno;
  return Status::ok();
}

Status FileDevice::zero_range(uint64_t offset, uint64_t length) {
  if (length == 0) return Status::ok();
  zeroed_any_.store(true);
  written(offset, length);
  for (;;) {
    const int step = zero_step_.load();
    const proto::ZeroMethod method = kZeroCascade[step];
    int err = 0;
    Status s = try_zero(method, offset, length, &err);
    if (!s.is_ok()) return s;
    if (err == 0) return Status::ok();
    if (!is_unsupported(err) || step + 1 == static_cast<int>(std::size(kZeroCascade))) {
      return write_failure(role_,
                           std::string("cannot zero ") + at(path_, offset) + " (" + zero_method_name(method) + ")", err,
                           fd_.get(), size_);
    }
    // Downgrade once for the rest of the run; another thread may have already.
    int expected = step;
    zero_step_.compare_exchange_strong(expected, step + 1);
  }
}

Status FileDevice::sync() {
  if (::fdatasync(fd_.get()) != 0) {
    return write_failure(role_, "cannot flush " + path_ + " to stable storage", errno, fd_.get(), size_);
  }
  drop_cold_writes(0, UINT64_MAX);
  return Status::ok();
}

// sync_file_range works on files and block devices alike; where it does not
// (some filesystems say EINVAL or ESPIPE) the final fdatasync does it all.
void FileDevice::start_writeback(uint64_t offset, uint64_t length) {
  (void)::sync_file_range(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(length), SYNC_FILE_RANGE_WRITE);
}

void FileDevice::wait_writeback(uint64_t offset, uint64_t length) {
  (void)::sync_file_range(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(length),
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  drop_cold_writes(offset, offset + length);
}

Status FileDevice::set_size(uint64_t size) {
  if (kind_ != proto::DeviceKind::kRegularFile) {
    return Status(ErrorKind::kInternal, "set_size called on block device " + path_);
  }
  written(std::min(size, size_), UINT64_MAX / 2);
  if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
    return errno_status(role_, "cannot resize " + path_ + " to " + std::to_string(size) + " bytes", errno);
  }
  size_ = size;
  return Status::ok();
}

proto::ZeroMethod FileDevice::zero_method() const {
  if (!zeroed_any_.load()) return proto::ZeroMethod::kNone;
  return kZeroCascade[zero_step_.load()];
}

}  // namespace sparsync
