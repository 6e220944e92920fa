#include "common/checkpoint_store.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/byte_codec.h"

namespace sparsync {
namespace {

constexpr char kMagic[8] = {'S', 'P', 'S', 'Y', 'C', 'K', 'P', 'T'};
// 1: no target identity. 2: the target's identity follows the source's.
// 3: a run token follows (synced records only; others stay at 2, which an
// older sparsync reads).
constexpr uint16_t kFormatVersion = 2;
constexpr uint16_t kTokenFormatVersion = 3;
constexpr size_t kMaxRecordBytes = 16384;
constexpr char kSuffix[] = ".sparsync-checkpoint";
// The record of a long name ends otherwise: no short name's record (which
// always ends in kSuffix) can then be the same file.
constexpr char kLongSuffix[] = ".sparsync-checkpoint-long";
// The undo journal (common/undo_journal.h) is named the same way.
constexpr char kUndoSuffix[] = ".sparsync-undo";
constexpr char kUndoLongSuffix[] = ".sparsync-undo-long";
constexpr char kSyncedSuffix[] = ".sparsync-synced";
constexpr char kSyncedLongSuffix[] = ".sparsync-synced-long";
// Room left in NAME_MAX for the temporary's ".tmp.<16 hex>" tail.
constexpr size_t kMaxRecordName = 255 - 21;

std::string state_dir() {
  const char* env = std::getenv("SPARSYNC_STATE_DIR");
  return env != nullptr && *env != '\0' ? env : "/var/lib/sparsync";
}

}  // namespace

namespace {

// "." + name + suffix, or for a long name a readable head and a hash.
std::string sibling_name(const std::string& name, const char* suffix, const char* long_suffix) {
  std::string full(".");
  if (name.size() + std::strlen(suffix) + 1 <= kMaxRecordName) return full.append(name).append(suffix);
  // Keep a readable head and make the rest unique by its hash: 128 bits of
  // SHA-256, since whoever picks target names could otherwise pick two that
  // share a record.
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(name.data()), name.size(), digest);
  char hex[33];
  for (int i = 0; i < 16; ++i) std::snprintf(hex + static_cast<ptrdiff_t>(2 * i), 3, "%02x", digest[i]);
  return full.append(name, 0, 150).append(".").append(hex).append(long_suffix);
}

// The place of a file kept beside a target (its checkpoint record, its undo
// journal): in the file's directory, or for a block device in
// $SPARSYNC_STATE_DIR, named after the device's resolved path.
Result<RecordPlace> sibling_place(const ResolvedPath& target, bool block_device, const char* suffix,
                                  const char* long_suffix, const char* device_suffix) {
  RecordPlace place;
  if (!block_device) {
    place.dir.reset(::fcntl(target.dir.get(), F_DUPFD_CLOEXEC, 0));
    if (!place.dir.valid()) return errno_status(ErrorKind::kTarget, "cannot open " + target.dir_shown, errno);
    place.dir_shown = target.dir_shown;
    place.name = sibling_name(target.name, suffix, long_suffix);
    return place;
  }
  auto dir = open_directory(state_dir(), ErrorKind::kTarget, 0700);
  if (!dir.is_ok()) {
    return dir.status().with_context("the checkpoint directory for block devices ($SPARSYNC_STATE_DIR)");
  }
  place.dir = std::move(dir.value().fd);
  place.dir_shown = dir.value().shown;
  std::string name = target.shown();
  for (char& c : name) {
    if (c == '/') c = '!';
  }
  place.name = name + device_suffix;
  return place;
}

}  // namespace

std::string record_name(const std::string& name) { return sibling_name(name, kSuffix, kLongSuffix); }

std::string undo_journal_name(const std::string& name) { return sibling_name(name, kUndoSuffix, kUndoLongSuffix); }

Result<RecordPlace> record_place(const ResolvedPath& target, bool block_device) {
  return sibling_place(target, block_device, kSuffix, kLongSuffix, ".checkpoint");
}

Result<RecordPlace> synced_record_place(const ResolvedPath& target, bool block_device) {
  return sibling_place(target, block_device, kSyncedSuffix, kSyncedLongSuffix, ".synced");
}

Result<RecordPlace> undo_journal_place(const ResolvedPath& target, bool block_device) {
  return sibling_place(target, block_device, kUndoSuffix, kUndoLongSuffix, ".undo");
}

std::string checkpoint_path(const std::string& target_path, bool block_device) {
  if (!block_device) {
    auto slash = target_path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : target_path.substr(0, slash + 1);
    std::string name = slash == std::string::npos ? target_path : target_path.substr(slash + 1);
    return dir + record_name(name);
  }
  std::string name = target_path;
  for (char& c : name) {
    if (c == '/') c = '!';
  }
  return state_dir() + "/" + name + ".checkpoint";
}

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status fsync_directory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno_status(ErrorKind::kTarget, "cannot open directory " + dir, errno);
  return fsync_directory(fd.get(), dir);
}

Status fsync_directory(int dir_fd, const std::string& shown) {
  if (::fsync(dir_fd) != 0) return errno_status(ErrorKind::kTarget, "cannot flush directory " + shown, errno);
  return Status::ok();
}

std::string encode_checkpoint(const CheckpointRecord& r) {
  ByteWriter w;
  w.bytes(kMagic, sizeof(kMagic));
  w.u16(r.run_token.empty() ? kFormatVersion : kTokenFormatVersion);
  w.u8(static_cast<uint8_t>(r.hash_kind));
  w.u8(0);
  w.u32(r.block_size);
  w.u64(r.source_size);
  w.u64(r.durable_offset);
  w.u64(r.updated_unix);
  w.str(r.source_id);
  w.str(r.target_id);
  if (!r.run_token.empty()) w.str(r.run_token);
  uint64_t sum = XXH64(w.buffer().data(), w.buffer().size(), 0);
  w.u64(sum);
  std::vector<uint8_t> bytes = w.take();
  return std::string(bytes.begin(), bytes.end());
}

std::optional<CheckpointRecord> decode_checkpoint(const std::string& bytes) {
  if (bytes.size() < sizeof(kMagic) + 8 || bytes.size() > kMaxRecordBytes) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t body = bytes.size() - 8;
  ByteReader tail(p + body, 8);
  uint64_t sum = 0;
  tail.u64(&sum);
  if (XXH64(p, body, 0) != sum) return std::nullopt;
  ByteReader r(p, body);
  char magic[sizeof(kMagic)];
  uint16_t version = 0;
  uint8_t hash = 0, reserved = 0;
  CheckpointRecord rec;
  r.bytes(magic, sizeof(magic));
  r.u16(&version);
  r.u8(&hash);
  r.u8(&reserved);
  r.u32(&rec.block_size);
  r.u64(&rec.source_size);
  r.u64(&rec.durable_offset);
  r.u64(&rec.updated_unix);
  r.str(&rec.source_id, 4096);
  if (version >= 2) r.str(&rec.target_id, 4096);
  if (version >= 3) r.str(&rec.run_token, 64);
  if (r.failed() || !r.at_end() || std::string(magic, sizeof(magic)) != std::string(kMagic, sizeof(kMagic)) ||
      version < 1 || version > kTokenFormatVersion || (version == 3 && rec.run_token.empty()) ||
      (hash != 1 && hash != 2) || rec.durable_offset > rec.source_size) {
    return std::nullopt;
  }
  rec.hash_kind = static_cast<proto::HashKind>(hash);
  return rec;
}

Status save_checkpoint(const RecordPlace& place, const CheckpointRecord& record) {
  const std::string tmp = unpredictable_name(place.name);
  const std::string shown_tmp = (place.dir_shown == "/" ? "" : place.dir_shown) + "/" + tmp;
  const std::string bytes = encode_checkpoint(record);
  {
    UniqueFd fd(::openat(place.dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return errno_status(ErrorKind::kTarget, "cannot write checkpoint " + shown_tmp, errno);
    int err = write_full(fd.get(), bytes.data(), bytes.size());
    if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
    if (err != 0) {
      (void)::unlinkat(place.dir.get(), tmp.c_str(), 0);
      return errno_status(ErrorKind::kTarget, "cannot write checkpoint " + shown_tmp, err);
    }
  }
  // renameat replaces whatever is at the name, a planted symlink included,
  // without following it.
  if (::renameat(place.dir.get(), tmp.c_str(), place.dir.get(), place.name.c_str()) != 0) {
    int err = errno;
    (void)::unlinkat(place.dir.get(), tmp.c_str(), 0);
    return errno_status(ErrorKind::kTarget, "cannot rename checkpoint into " + place.shown(), err);
  }
  return fsync_directory(place.dir.get(), place.dir_shown);
}

Status load_checkpoint(const RecordPlace& place, std::optional<CheckpointRecord>* record, bool* corrupt) {
  *record = std::nullopt;
  *corrupt = false;
  UniqueFd fd(::openat(place.dir.get(), place.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::ok();
    // A symlink (ELOOP) or a FIFO nobody writes (ENXIO) at the record's
    // name is not a record; the next save replaces it.
    if (errno == ELOOP || errno == ENXIO) {
      *corrupt = true;
      return Status::ok();
    }
    return errno_status(ErrorKind::kTarget, "cannot read checkpoint " + place.shown(), errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return errno_status(ErrorKind::kTarget, "cannot read checkpoint " + place.shown(), errno);
  // Only a regular file that this user or root wrote is a record: one that
  // another user planted (they can write the directory, and every field of
  // a record can be read off `stat` of the source and the target) would
  // otherwise make the next run skip everything below its offset and exit 0.
  if (!S_ISREG(st.st_mode) || (st.st_uid != ::geteuid() && st.st_uid != 0)) {
    *corrupt = true;
    return Status::ok();
  }
  std::string bytes(kMaxRecordBytes + 1, '\0');
  size_t got = 0;
  int err = read_full(fd.get(), bytes.data(), bytes.size(), &got);
  if (err != 0) return errno_status(ErrorKind::kTarget, "cannot read checkpoint " + place.shown(), err);
  bytes.resize(got);
  *record = decode_checkpoint(bytes);
  *corrupt = !record->has_value();
  return Status::ok();
}

Status remove_checkpoint(const RecordPlace& place) {
  if (::unlinkat(place.dir.get(), place.name.c_str(), 0) != 0) {
    if (errno == ENOENT) return Status::ok();
    return errno_status(ErrorKind::kTarget, "cannot remove checkpoint " + place.shown(), errno);
  }
  return fsync_directory(place.dir.get(), place.dir_shown);
}

namespace {}  // namespace

Result<RecordPlace> record_place_at(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  auto opened = open_directory(dir, ErrorKind::kTarget, 0);
  if (!opened.is_ok()) return opened.status();
  RecordPlace place;
  place.dir = std::move(opened.value().fd);
  place.dir_shown = opened.value().shown;
  place.name = slash == std::string::npos ? path : path.substr(slash + 1);
  return place;
}

Status save_checkpoint(const std::string& path, const CheckpointRecord& record) {
  auto place = record_place_at(path);
  if (!place.is_ok()) return place.status();
  return save_checkpoint(place.value(), record);
}

Status load_checkpoint(const std::string& path, std::optional<CheckpointRecord>* record, bool* corrupt) {
  *record = std::nullopt;
  *corrupt = false;
  auto place = record_place_at(path);
  if (!place.is_ok()) return place.status();
  return load_checkpoint(place.value(), record, corrupt);
}

Status remove_checkpoint(const std::string& path) {
  auto place = record_place_at(path);
  if (!place.is_ok()) return place.status();
  return remove_checkpoint(place.value());
}

}  // namespace sparsync
