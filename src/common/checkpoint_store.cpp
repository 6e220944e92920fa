#include "common/checkpoint_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "common/byte_codec.h"
#include "common/unique_fd.h"

namespace sparsync {
namespace {

constexpr char kMagic[8] = {'S', 'P', 'S', 'Y', 'C', 'K', 'P', 'T'};
constexpr uint16_t kFormatVersion = 1;
constexpr size_t kMaxRecordBytes = 16384;

}  // namespace

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status fsync_directory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno_status(ErrorKind::kTarget, "cannot open directory " + dir, errno);
  if (::fsync(fd.get()) != 0) return errno_status(ErrorKind::kTarget, "cannot flush directory " + dir, errno);
  return Status::ok();
}

std::string checkpoint_path(const std::string& target_path, bool block_device) {
  if (!block_device) {
    auto slash = target_path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : target_path.substr(0, slash + 1);
    std::string name = slash == std::string::npos ? target_path : target_path.substr(slash + 1);
    return dir + "." + name + ".sparsync-checkpoint";
  }
  const char* env = std::getenv("SPARSYNC_STATE_DIR");
  std::string dir = env != nullptr && *env != '\0' ? env : "/var/lib/sparsync";
  std::string name = target_path;
  for (char& c : name) {
    if (c == '/') c = '!';
  }
  return dir + "/" + name + ".checkpoint";
}

std::string encode_checkpoint(const CheckpointRecord& r) {
  ByteWriter w;
  w.bytes(kMagic, sizeof(kMagic));
  w.u16(kFormatVersion);
  w.u8(static_cast<uint8_t>(r.hash_kind));
  w.u8(0);
  w.u32(r.block_size);
  w.u64(r.source_size);
  w.u64(r.durable_offset);
  w.u64(r.updated_unix);
  w.str(r.source_id);
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
  if (r.failed() || !r.at_end() || std::string(magic, sizeof(magic)) != std::string(kMagic, sizeof(kMagic)) ||
      version != kFormatVersion || (hash != 1 && hash != 2) || rec.durable_offset > rec.source_size) {
    return std::nullopt;
  }
  rec.hash_kind = static_cast<proto::HashKind>(hash);
  return rec;
}

Status save_checkpoint(const std::string& path, const CheckpointRecord& record) {
  const std::string dir = directory_of(path);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return errno_status(ErrorKind::kTarget, "cannot create checkpoint directory " + dir, errno);
  }
  const std::string tmp = path + ".tmp";
  const std::string bytes = encode_checkpoint(record);
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return errno_status(ErrorKind::kTarget, "cannot write checkpoint " + tmp, errno);
    int err = write_full(fd.get(), bytes.data(), bytes.size());
    if (err != 0) return errno_status(ErrorKind::kTarget, "cannot write checkpoint " + tmp, err);
    if (::fsync(fd.get()) != 0) return errno_status(ErrorKind::kTarget, "cannot flush checkpoint " + tmp, errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return errno_status(ErrorKind::kTarget, "cannot rename checkpoint into " + path, errno);
  }
  return fsync_directory(dir);
}

Status load_checkpoint(const std::string& path, std::optional<CheckpointRecord>* record, bool* corrupt) {
  *record = std::nullopt;
  *corrupt = false;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::ok();
    return errno_status(ErrorKind::kTarget, "cannot read checkpoint " + path, errno);
  }
  std::string bytes(kMaxRecordBytes + 1, '\0');
  size_t got = 0;
  int err = read_full(fd.get(), bytes.data(), bytes.size(), &got);
  if (err != 0) return errno_status(ErrorKind::kTarget, "cannot read checkpoint " + path, err);
  bytes.resize(got);
  *record = decode_checkpoint(bytes);
  *corrupt = !record->has_value();
  return Status::ok();
}

Status remove_checkpoint(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::ok();
    return errno_status(ErrorKind::kTarget, "cannot remove checkpoint " + path, errno);
  }
  return fsync_directory(directory_of(path));
}

}  // namespace sparsync
