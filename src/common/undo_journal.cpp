#include "common/undo_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <iterator>
#include <random>
#include <vector>

#include "common/block_hash.h"
#include "common/byte_codec.h"
#include "common/units.h"

namespace sparsync {
namespace {

constexpr char kMagic[8] = {'S', 'P', 'S', 'Y', 'U', 'N', 'D', 'O'};
constexpr size_t kMaxKeyBytes = 256;
// magic, version, reserved, nonce, old size, created, key length, checksum.
constexpr size_t kHeaderFixedBytes = 8 + 2 + 2 + 8 + 8 + 8 + 2 + 8;
// kind, 7 reserved, offset, length; the checksum follows the old bytes.
constexpr size_t kRecordPrefixBytes = 1 + 7 + 8 + 8;
constexpr size_t kChecksumBytes = 8;
constexpr uint8_t kKindData = 1;
constexpr uint8_t kKindZero = 2;

Status corrupt(const std::string& shown, const std::string& why) {
  return Status(ErrorKind::kTarget, "undo journal " + shown + " is unusable: " + why);
}

// Opens the journal at `place` with `flags`, refusing what no sparsync run
// wrote: a symlink or FIFO planted at its name, or a file of another user
// (whoever can write the directory could otherwise have rollback write
// bytes of their choosing into the target). ENOENT leaves `fd` invalid.
Status open_checked(const RecordPlace& place, int flags, UniqueFd* fd, bool* foreign = nullptr) {
  fd->reset(::openat(place.dir.get(), place.name.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  auto not_ours = [&](const std::string& why) {
    fd->reset();
    if (foreign != nullptr) *foreign = true;
    return corrupt(place.shown(), why);
  };
  if (!fd->valid()) {
    if (errno == ENOENT) return Status::ok();
    if (errno == ELOOP || errno == ENXIO) return not_ours("not a regular file; remove it");
    return errno_status(ErrorKind::kTarget, "cannot open undo journal " + place.shown(), errno);
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) {
    return errno_status(ErrorKind::kTarget, "cannot open undo journal " + place.shown(), errno);
  }
  if (!S_ISREG(st.st_mode)) return not_ours("not a regular file; remove it");
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return not_ours("owned by another user (uid " + std::to_string(st.st_uid) + "); remove it");
  }
  return Status::ok();
}

Status read_at(int fd, const std::string& shown, uint64_t offset, void* buf, size_t len, size_t* got) {
  int err = pread_full(fd, buf, len, offset, got);
  if (err != 0) return errno_status(ErrorKind::kTarget, "cannot read undo journal " + shown, err);
  return Status::ok();
}

Status read_header(int fd, const std::string& shown, UndoScan* scan) {
  std::vector<uint8_t> buf(kHeaderFixedBytes + kMaxKeyBytes);
  size_t got = 0;
  SPARSYNC_RETURN_IF_ERROR(read_at(fd, shown, 0, buf.data(), buf.size(), &got));
  ByteReader r(buf.data(), got);
  char magic[sizeof(kMagic)];
  uint16_t version = 0, reserved = 0;
  UndoHeader& h = scan->header;
  r.bytes(magic, sizeof(magic));
  if (r.failed() || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0)
    return corrupt(shown, "its header is torn or not a journal's");
  r.u16(&version);
  if (!r.failed() && version != kUndoFormatVersion) {
    return corrupt(shown, "format version " + std::to_string(version) + ", this sparsync reads version " +
                              std::to_string(kUndoFormatVersion) + "; use the sparsync that wrote it");
  }
  r.u16(&reserved);
  r.u64(&h.nonce);
  r.u64(&h.old_size);
  r.u64(&h.created_unix);
  r.str(&h.target_key, kMaxKeyBytes);
  const size_t body = got - r.remaining();
  uint64_t sum = 0;
  r.u64(&sum);
  if (r.failed() || XXH64(buf.data(), body, 0) != sum) return corrupt(shown, "its header is torn or corrupt");
  scan->header_bytes = body + kChecksumBytes;
  return Status::ok();
}

}  // namespace

std::string encode_undo_header(const UndoHeader& h) {
  ByteWriter w;
  w.bytes(kMagic, sizeof(kMagic));
  w.u16(kUndoFormatVersion);
  w.u16(0);
  w.u64(h.nonce);
  w.u64(h.old_size);
  w.u64(h.created_unix);
  w.str(h.target_key.substr(0, kMaxKeyBytes));
  w.u64(XXH64(w.buffer().data(), w.buffer().size(), 0));
  std::vector<uint8_t> bytes = w.take();
  return std::string(bytes.begin(), bytes.end());
}

void append_undo_record(uint64_t nonce, const UndoEntry& e, std::string* out) {
  // Straight into `out`: the old bytes of every changed block pass through
  // here, so no intermediate buffer copies them again.
  const size_t start = out->size();
  const size_t stored = e.zero ? 0 : static_cast<size_t>(e.length);
  out->resize(start + kRecordPrefixBytes + stored + kChecksumBytes);
  auto* p = reinterpret_cast<uint8_t*>(out->data() + start);
  auto put = [](uint8_t* at, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) at[i] = static_cast<uint8_t>(v >> (8 * i));
  };
  std::memset(p, 0, 8);
  p[0] = e.zero ? kKindZero : kKindData;
  put(p + 8, e.offset, 8);
  put(p + 16, e.length, 8);
  if (stored > 0) std::memcpy(p + kRecordPrefixBytes, e.data, stored);
  put(p + kRecordPrefixBytes + stored, XXH64(p, kRecordPrefixBytes + stored, nonce), 8);
}

std::string encode_undo_record(uint64_t nonce, const UndoEntry& e) {
  std::string out;
  append_undo_record(nonce, e, &out);
  return out;
}

Status scan_undo_journal(int fd, const std::string& shown, const std::function<Status(const UndoEntry&)>& each,
                         UndoScan* scan) {
  *scan = UndoScan{};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_status(ErrorKind::kTarget, "cannot read undo journal " + shown, errno);
  scan->file_bytes = static_cast<uint64_t>(st.st_size);
  SPARSYNC_RETURN_IF_ERROR(read_header(fd, shown, scan));
  uint64_t at = scan->header_bytes;
  scan->whole_end = at;
  std::vector<uint8_t> buf;
  for (;;) {
    uint8_t prefix[kRecordPrefixBytes];
    size_t got = 0;
    SPARSYNC_RETURN_IF_ERROR(read_at(fd, shown, at, prefix, sizeof(prefix), &got));
    if (got < sizeof(prefix)) break;
    ByteReader r(prefix, sizeof(prefix));
    uint8_t kind = 0;
    UndoEntry e;
    r.u8(&kind);
    r.skip(7);
    r.u64(&e.offset);
    r.u64(&e.length);
    e.zero = kind == kKindZero;
    if ((kind != kKindData && kind != kKindZero) || e.length == 0 || e.offset + e.length < e.offset ||
        (!e.zero && e.length > kUndoMaxDataRecord)) {
      break;
    }
    const size_t stored = e.zero ? 0 : static_cast<size_t>(e.length);
    buf.resize(sizeof(prefix) + stored + kChecksumBytes);
    std::memcpy(buf.data(), prefix, sizeof(prefix));
    SPARSYNC_RETURN_IF_ERROR(
        read_at(fd, shown, at + sizeof(prefix), buf.data() + sizeof(prefix), stored + kChecksumBytes, &got));
    if (got < stored + kChecksumBytes) break;
    ByteReader tail(buf.data() + sizeof(prefix) + stored, kChecksumBytes);
    uint64_t sum = 0;
    tail.u64(&sum);
    if (XXH64(buf.data(), sizeof(prefix) + stored, scan->header.nonce) != sum) break;
    e.data = e.zero ? nullptr : buf.data() + sizeof(prefix);
    if (each) SPARSYNC_RETURN_IF_ERROR(each(e));
    at += buf.size();
    scan->whole_end = at;
    scan->records++;
    (e.zero ? scan->zero_bytes : scan->data_bytes) += e.length;
  }
  return Status::ok();
}

Status read_undo_facts(const RecordPlace& place, UndoFileFacts* facts, bool* foreign) {
  *facts = UndoFileFacts{};
  if (foreign != nullptr) *foreign = false;
  UniqueFd fd;
  SPARSYNC_RETURN_IF_ERROR(open_checked(place, O_RDONLY, &fd, foreign));
  if (!fd.valid()) return Status::ok();
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_status(ErrorKind::kTarget, "cannot read " + place.shown(), errno);
  UndoScan head;
  SPARSYNC_RETURN_IF_ERROR(read_header(fd.get(), place.shown(), &head));
  facts->exists = true;
  facts->header = head.header;
  facts->bytes = static_cast<uint64_t>(st.st_size);
  facts->modified_unix = static_cast<uint64_t>(st.st_mtime);
  return Status::ok();
}

Status scan_undo_file(const RecordPlace& place, UndoScan* scan) {
  UniqueFd fd;
  SPARSYNC_RETURN_IF_ERROR(open_checked(place, O_RDONLY, &fd));
  if (!fd.valid()) return errno_status(ErrorKind::kTarget, "cannot open undo journal " + place.shown(), ENOENT);
  return scan_undo_journal(fd.get(), place.shown(), {}, scan);
}

std::string undo_target_key(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {};
  if (S_ISBLK(st.st_mode)) {
    return "blockdev:" + std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
  }
  return "file:" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

UndoJournal::UndoJournal(RecordPlace place, UniqueFd fd, UndoHeader header, uint64_t end)
    : place_(std::move(place)), fd_(std::move(fd)), header_(std::move(header)), end_(end), durable_(end) {}

Result<std::unique_ptr<UndoJournal>> UndoJournal::create(const RecordPlace& place, UndoHeader header) {
  std::random_device random;
  header.nonce = (static_cast<uint64_t>(random()) << 32) ^ random();
  RecordPlace own;
  own.dir.reset(::fcntl(place.dir.get(), F_DUPFD_CLOEXEC, 0));
  if (!own.dir.valid()) return errno_status(ErrorKind::kTarget, "cannot open " + place.dir_shown, errno);
  own.dir_shown = place.dir_shown;
  own.name = place.name;
  const std::string tmp = unpredictable_name(place.name);
  const std::string bytes = encode_undo_header(header);
  UniqueFd fd(::openat(own.dir.get(), tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return errno_status(ErrorKind::kTarget, "cannot create undo journal " + place.shown(), errno);
  int err = write_full(fd.get(), bytes.data(), bytes.size());
  if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
  // renameat replaces whatever is at the name, a planted symlink included,
  // without following it.
  if (err == 0 && ::renameat(own.dir.get(), tmp.c_str(), own.dir.get(), own.name.c_str()) != 0) err = errno;
  if (err != 0) {
    (void)::unlinkat(own.dir.get(), tmp.c_str(), 0);
    return errno_status(ErrorKind::kTarget, "cannot create undo journal " + place.shown(), err);
  }
  SPARSYNC_RETURN_IF_ERROR(fsync_directory(own.dir.get(), own.dir_shown));
  std::unique_ptr<UndoJournal> j(new UndoJournal(std::move(own), std::move(fd), std::move(header), bytes.size()));
  j->scan_.header = j->header_;
  j->scan_.header_bytes = j->scan_.whole_end = j->scan_.file_bytes = bytes.size();
  return j;
}

Result<std::unique_ptr<UndoJournal>> UndoJournal::open(const RecordPlace& place, bool* foreign) {
  if (foreign != nullptr) *foreign = false;
  UniqueFd fd;
  SPARSYNC_RETURN_IF_ERROR(open_checked(place, O_RDWR, &fd, foreign));
  if (!fd.valid()) return std::unique_ptr<UndoJournal>();
  RecordPlace own;
  own.dir.reset(::fcntl(place.dir.get(), F_DUPFD_CLOEXEC, 0));
  if (!own.dir.valid()) return errno_status(ErrorKind::kTarget, "cannot open " + place.dir_shown, errno);
  own.dir_shown = place.dir_shown;
  own.name = place.name;
  std::map<uint64_t, uint64_t> covered;
  UndoScan scan;
  SPARSYNC_RETURN_IF_ERROR(scan_undo_journal(
      fd.get(), place.shown(),
      [&](const UndoEntry& e) {
        covered[e.offset] = e.offset + e.length;
        return Status::ok();
      },
      &scan));
  // The torn tail goes before anything is appended behind it.
  if (scan.torn_bytes() > 0) {
    if (::ftruncate(fd.get(), static_cast<off_t>(scan.whole_end)) != 0 || ::fdatasync(fd.get()) != 0) {
      return errno_status(ErrorKind::kTarget, "cannot cut the torn tail of undo journal " + place.shown(), errno);
    }
  }
  std::unique_ptr<UndoJournal> j(new UndoJournal(std::move(own), std::move(fd), scan.header, scan.whole_end));
  j->scan_ = scan;
  for (const auto& [begin, end] : covered) j->cover(begin, end);
  return j;
}

void UndoJournal::cover(uint64_t begin, uint64_t end) {
  auto it = covered_.upper_bound(begin);
  if (it != covered_.begin() && std::prev(it)->second >= begin) {
    --it;
    begin = it->first;
    end = std::max(end, it->second);
    it = covered_.erase(it);
  }
  while (it != covered_.end() && it->first <= end) {
    end = std::max(end, it->second);
    it = covered_.erase(it);
  }
  covered_[begin] = end;
}

void UndoJournal::set_cap(uint64_t max_bytes, std::string target, std::string cap) {
  cap_ = max_bytes;
  cap_target_ = std::move(target);
  cap_shown_ = std::move(cap);
}

Status UndoJournal::append(const UndoEntry& e) {
  const uint64_t record = kRecordPrefixBytes + (e.zero ? 0 : e.length) + kChecksumBytes;
  if (bytes() + record > cap_) {
    return Status(ErrorKind::kTarget,
                  "undo journal " + shown() + " of " + cap_target_ + " would pass " + cap_shown_ + " (it holds " +
                      format_bytes(bytes()) + "; the next block to save is at " + format_bytes(e.offset) +
                      "); stopped before overwriting it, so the target resumes or rolls back (sparsync --rollback " +
                      cap_target_ + "): rerun with --no-undo to sync without a way back, or with a larger --max-undo");
  }
  append_undo_record(header_.nonce, e, &pending_);
  return pending_.size() >= kMaxPendingBytes ? write_pending() : Status::ok();
}

// Old content as records: runs of all-zero 4 KiB pages as "was zero", the
// rest as bytes, so the holes and zeros of a sparse image cost no space.
Status UndoJournal::append_runs(uint64_t offset, const uint8_t* data, uint64_t length) {
  constexpr uint64_t kPage = 4096;
  uint64_t run_start = 0;
  bool run_zero = false;
  for (uint64_t at = 0; at < length; at += kPage) {
    const uint64_t n = std::min(kPage, length - at);
    const bool zero = is_all_zero(data + at, n);
    if (at > run_start && zero != run_zero) {
      SPARSYNC_RETURN_IF_ERROR(
          append(UndoEntry{offset + run_start, at - run_start, run_zero, run_zero ? nullptr : data + run_start}));
      run_start = at;
    }
    run_zero = zero;
  }
  return append(UndoEntry{offset + run_start, length - run_start, run_zero, run_zero ? nullptr : data + run_start});
}

Status UndoJournal::write_pending() {
  if (pending_.empty()) return Status::ok();
  int err = pwrite_full(fd_.get(), pending_.data(), pending_.size(), end_);
  if (err != 0) return write_failed("cannot append to undo journal " + shown(), err);
  // Start writing it back now, so the batch's fdatasync finds less to do.
  // Only a hint: durability still comes from commit().
  (void)::sync_file_range(fd_.get(), static_cast<off_t>(end_), static_cast<off_t>(pending_.size()),
                          SYNC_FILE_RANGE_WRITE);
  end_ += pending_.size();
  pending_.clear();
  dirty_ = true;
  return Status::ok();
}

Status UndoJournal::preserve(Device& device, uint64_t offset, uint64_t length) {
  uint64_t end = std::min(offset + length, header_.old_size);
  if (offset >= end) return Status::ok();
  // The gaps between the covered ranges that overlap [offset, end).
  std::vector<std::pair<uint64_t, uint64_t>> gaps;
  uint64_t pos = offset;
  auto it = covered_.upper_bound(offset);
  if (it != covered_.begin()) --it;
  for (; it != covered_.end() && it->first < end && pos < end; ++it) {
    if (it->second <= pos) continue;
    if (it->first > pos) gaps.emplace_back(pos, it->first);
    pos = std::max(pos, it->second);
  }
  if (pos < end) gaps.emplace_back(pos, end);
  std::vector<uint8_t> buf;
  for (const auto& [begin, gap_end] : gaps) {
    for (uint64_t at = begin; at < gap_end;) {
      // Holes are worth mapping only in a long range (a HOLE over old data):
      // for one scattered block, two lseeks cost more than reading it.
      Extent x{at, gap_end - at, false};
      if (gap_end - at > kUndoMaxDataRecord) SPARSYNC_RETURN_IF_ERROR(device.next_extent(at, gap_end, &x));
      if (x.length == 0) x = Extent{at, gap_end - at, false};
      if (x.hole) {
        SPARSYNC_RETURN_IF_ERROR(append(UndoEntry{at, x.length, true, nullptr}));
        at += x.length;
        continue;
      }
      const uint64_t n = std::min<uint64_t>(x.length, kUndoMaxDataRecord);
      buf.resize(n);
      SPARSYNC_RETURN_IF_ERROR(device.read_at(at, buf.data(), n));
      SPARSYNC_RETURN_IF_ERROR(append_runs(at, buf.data(), n));
      at += n;
    }
    cover(begin, gap_end);
  }
  return Status::ok();
}

Status UndoJournal::commit() {
  SPARSYNC_RETURN_IF_ERROR(write_pending());
  if (!dirty_) return Status::ok();
  if (::fdatasync(fd_.get()) != 0) return write_failed("cannot flush undo journal " + shown(), errno);
  // Written once, read only by a rollback: caching it only evicts what the
  // host had cached (1 % of the image per 1 % changed).
  (void)::posix_fadvise(fd_.get(), static_cast<off_t>(dropped_to_), static_cast<off_t>(end_ - dropped_to_),
                        POSIX_FADV_DONTNEED);
  dropped_to_ = end_;
  dirty_ = false;
  durable_.store(end_, std::memory_order_release);
  return Status::ok();
}

// The run stops before the writes the journal was to cover; a full disk
// says how to go on.
Status UndoJournal::write_failed(const std::string& what, int err) const {
  Status s = errno_status(ErrorKind::kTarget, what, err);
  if (err != ENOSPC && err != EDQUOT) return s;
  return Status(ErrorKind::kTarget, s.message() +
                                        " (the journal holds the old content of every changed block: free "
                                        "space in " +
                                        place_.dir_shown + ", or pass --no-undo)");
}

Status UndoJournal::discard() { return remove_undo_journal(place_); }

Status remove_undo_journal(const RecordPlace& place) {
  if (::unlinkat(place.dir.get(), place.name.c_str(), 0) != 0) {
    if (errno == ENOENT) return Status::ok();
    return errno_status(ErrorKind::kTarget, "cannot remove undo journal " + place.shown(), errno);
  }
  return fsync_directory(place.dir.get(), place.dir_shown);
}

Status replay_undo_journal(const RecordPlace& place, Device& device, UndoReplay* replay) {
  *replay = UndoReplay{};
  UniqueFd fd;
  SPARSYNC_RETURN_IF_ERROR(open_checked(place, O_RDONLY, &fd));
  if (!fd.valid()) return errno_status(ErrorKind::kTarget, "cannot open undo journal " + place.shown(), ENOENT);
  UndoScan head;
  SPARSYNC_RETURN_IF_ERROR(read_header(fd.get(), place.shown(), &head));
  replay->size_before = device.size();
  // Sized first: records of a shrunk file lie past its present end, and
  // growth is cut off.
  if (device.kind() == proto::DeviceKind::kRegularFile) {
    if (device.size() != head.header.old_size) SPARSYNC_RETURN_IF_ERROR(device.set_size(head.header.old_size));
  } else if (device.size() < head.header.old_size) {
    return Status(ErrorKind::kTarget, device.path() + " is smaller than the " + std::to_string(head.header.old_size) +
                                          " bytes its undo journal " + place.shown() + " restores");
  }
  SPARSYNC_RETURN_IF_ERROR(scan_undo_journal(
      fd.get(), place.shown(),
      [&](const UndoEntry& e) {
        if (e.offset + e.length > head.header.old_size) {
          return corrupt(place.shown(), "a record at offset " + std::to_string(e.offset) + " lies past the old size");
        }
        return e.zero ? device.zero_range(e.offset, e.length) : device.write_at(e.offset, e.data, e.length);
      },
      &replay->scan));
  return device.sync();
}

}  // namespace sparsync
