#include "source/stored_digests.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/block_hash.h"
#include "common/byte_codec.h"
#include "source/target_reports.h"

namespace sparsync {
namespace {

constexpr char kMagic[8] = {'S', 'P', 'S', 'Y', 'D', 'G', 'S', 'T'};
constexpr uint16_t kFormat = 1;
constexpr size_t kHeaderBytes = 64;
constexpr size_t kBufferBytes = 1u << 20;
// A run handed to the reports holds at most this many digests, so the
// reports' own bound on buffered digest bytes keeps applying.
constexpr uint64_t kMaxRunBlocks = 4096;

bool all_zero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

std::vector<uint8_t> encode_header(const DigestFileHeader& h, uint64_t blocks) {
  ByteWriter w;
  w.bytes(kMagic, sizeof kMagic);
  w.u16(kFormat);
  w.u8(static_cast<uint8_t>(h.hash_kind));
  w.u8(0);
  w.u32(h.block_size);
  w.u64(h.image_size);
  w.u64(blocks);
  w.bytes(h.run_token.data(), h.run_token.size());
  std::vector<uint8_t> out = w.take();
  out.resize(kHeaderBytes, 0);
  return out;
}

}  // namespace

void stored_block_digest(const SessionParams& params, uint64_t block, const uint8_t* data, uint8_t* out) {
  const size_t len = proto::hash_length(params.hash_kind);
  const uint32_t blen = params.block_length(block);
  // A real digest of all zero bytes would read back as a zero block; at
  // 2^-128 it is left to chance.
  if (data == nullptr || is_all_zero(data, blen)) {
    std::memset(out, 0, len);
  } else {
    digest_block(params.hash_kind, data, blen, out);
  }
}

DigestFingerprint::DigestFingerprint() : state_(XXH64_createState()) { XXH64_reset(state_, 0); }
DigestFingerprint::~DigestFingerprint() { XXH64_freeState(state_); }
void DigestFingerprint::add_digest(const uint8_t* digest, size_t length) { XXH64_update(state_, digest, length); }
uint64_t DigestFingerprint::value() const { return XXH64_digest(state_); }

void DigestFingerprint::add(const SessionParams& params, uint64_t offset, uint64_t length, const uint8_t* data) {
  uint8_t digest[kMaxDigest];
  const size_t len = proto::hash_length(params.hash_kind);
  for (uint64_t done = 0; done < length;) {
    const uint64_t block = (offset + done) / params.block_size;
    stored_block_digest(params, block, data == nullptr ? nullptr : data + done, digest);
    add_digest(digest, len);
    done += params.block_length(block);
  }
}

DigestRecorder::~DigestRecorder() {
  if (sum_ != nullptr) XXH64_freeState(sum_);
}

Result<std::unique_ptr<DigestRecorder>> DigestRecorder::create(const std::string& path, const SessionParams& params,
                                                               const proto::ChangeToken& run_token) {
  std::unique_ptr<DigestRecorder> r(new DigestRecorder());
  r->path_ = path;
  r->params_ = params;
  (void)::unlink(path.c_str());
  r->fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!r->fd_.valid()) return errno_status(ErrorKind::kSource, "cannot create the digest file " + path, errno);
  r->sum_ = XXH64_createState();
  XXH64_reset(r->sum_, 0);
  r->buffer_.reserve(kBufferBytes);
  DigestFileHeader h{params.hash_kind, params.block_size, params.image_size, run_token};
  std::vector<uint8_t> header = encode_header(h, params.total_blocks());
  SPARSYNC_RETURN_IF_ERROR(r->put(header.data(), header.size()));
  return r;
}

Status DigestRecorder::put(const uint8_t* bytes, size_t n) {
  XXH64_update(sum_, bytes, n);
  buffer_.insert(buffer_.end(), bytes, bytes + n);
  return buffer_.size() >= kBufferBytes ? flush() : Status::ok();
}

Status DigestRecorder::flush() {
  int err = write_full(fd_.get(), buffer_.data(), buffer_.size());
  buffer_.clear();
  if (err != 0) {
    failed_ = true;
    return errno_status(ErrorKind::kSource, "cannot write the digest file " + path_, err);
  }
  return Status::ok();
}

Status DigestRecorder::add(uint64_t offset, uint64_t length, const uint8_t* data) {
  const size_t len = proto::hash_length(params_.hash_kind);
  if (failed_ || offset != params_.block_offset(next_block_)) {
    failed_ = true;
    return Status::ok();  // not from the start, or a gap: the file will not be complete
  }
  uint8_t digest[kMaxDigest] = {};
  for (uint64_t done = 0; done < length;) {
    const uint32_t blen = params_.block_length(next_block_);
    stored_block_digest(params_, next_block_, data == nullptr ? nullptr : data + done, digest);
    SPARSYNC_RETURN_IF_ERROR(put(digest, len));
    ++next_block_;
    done += blen;
  }
  return Status::ok();
}

Status DigestRecorder::add_digest(const uint8_t* digest) {
  if (failed_ || next_block_ >= params_.total_blocks()) {
    failed_ = true;
    return Status::ok();
  }
  ++next_block_;
  return put(digest, proto::hash_length(params_.hash_kind));
}

Status DigestRecorder::finish() {
  if (failed_ || next_block_ != params_.total_blocks()) return Status::ok();
  uint8_t trailer[8];
  uint64_t sum = XXH64_digest(sum_);
  for (int i = 0; i < 8; ++i) trailer[i] = static_cast<uint8_t>(sum >> (8 * i));
  buffer_.insert(buffer_.end(), trailer, trailer + 8);
  SPARSYNC_RETURN_IF_ERROR(flush());
  if (::fsync(fd_.get()) != 0) return errno_status(ErrorKind::kSource, "cannot flush the digest file " + path_, errno);
  finished_ = true;
  return Status::ok();
}

StoredDigests::~StoredDigests() {
  if (sum_ != nullptr) XXH64_freeState(sum_);
}

Result<std::unique_ptr<StoredDigests>> StoredDigests::open(const std::string& path, const SessionParams& params) {
  std::unique_ptr<StoredDigests> s(new StoredDigests());
  s->path_ = path;
  s->fd_.reset(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!s->fd_.valid()) {
    if (errno == ENOENT) return std::unique_ptr<StoredDigests>();
    return errno_status(ErrorKind::kSource, "cannot read the stored digests " + path, errno);
  }
  uint8_t raw[kHeaderBytes];
  size_t got = 0;
  int err = read_full(s->fd_.get(), raw, sizeof raw, &got);
  if (err != 0) return errno_status(ErrorKind::kSource, "cannot read the stored digests " + path, err);
  ByteReader r(raw, got);
  char magic[8] = {};
  uint16_t format = 0;
  uint8_t kind = 0, reserved = 0;
  r.bytes(magic, sizeof magic);
  r.u16(&format);
  r.u8(&kind);
  r.u8(&reserved);
  r.u32(&s->header_.block_size);
  r.u64(&s->header_.image_size);
  r.u64(&s->blocks_);
  r.bytes(s->header_.run_token.data(), s->header_.run_token.size());
  if (r.failed() || got != kHeaderBytes || std::memcmp(magic, kMagic, sizeof magic) != 0 || format != kFormat ||
      (kind != 1 && kind != 2)) {
    return Status(ErrorKind::kSource, "the stored digests " + path + " are damaged or of another format");
  }
  s->header_.hash_kind = static_cast<proto::HashKind>(kind);
  if (s->header_.hash_kind != params.hash_kind || s->header_.block_size != params.block_size ||
      s->header_.image_size != params.image_size || s->blocks_ != params.total_blocks()) {
    return Status(ErrorKind::kSource, "the stored digests " + path + " are of another size, block size or hash");
  }
  s->digest_len_ = proto::hash_length(params.hash_kind);
  SPARSYNC_RETURN_IF_ERROR(s->check_whole_file(raw));
  s->sum_ = XXH64_createState();
  XXH64_reset(s->sum_, 0);
  XXH64_update(s->sum_, raw, sizeof raw);
  return s;
}

// The whole file against its checksum before any digest of it is used: a
// run's checkpoints vouch for what the digests said, so a damaged file
// found only at the end could leave a resume point over blocks it hid.
// One extra read of the file (16 bytes per block, cached by the time the
// run reads it again).
Status StoredDigests::check_whole_file(const uint8_t* header) {
  XXH64_state_t* sum = XXH64_createState();
  XXH64_reset(sum, 0);
  XXH64_update(sum, header, kHeaderBytes);
  std::vector<uint8_t> buf(kBufferBytes);
  uint64_t left = blocks_ * digest_len_;
  Status s;
  while (s.is_ok() && left > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    size_t got = 0;
    int err = read_full(fd_.get(), buf.data(), want, &got);
    if (err != 0) s = errno_status(ErrorKind::kSource, "cannot read the stored digests " + path_, err);
    if (s.is_ok() && got != want) s = Status(ErrorKind::kSource, "the stored digests " + path_ + " end early");
    if (s.is_ok()) XXH64_update(sum, buf.data(), got);
    left -= want;
  }
  uint8_t trailer[9];
  size_t got = 0;
  if (s.is_ok() && read_full(fd_.get(), trailer, sizeof trailer, &got) != 0) got = 0;
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) stored |= static_cast<uint64_t>(trailer[i]) << (8 * i);
  if (s.is_ok() && (got != 8 || stored != XXH64_digest(sum))) {
    s = Status(ErrorKind::kSource, "the stored digests " + path_ + " are damaged (checksum)");
  }
  XXH64_freeState(sum);
  SPARSYNC_RETURN_IF_ERROR(s);
  if (::lseek(fd_.get(), static_cast<off_t>(kHeaderBytes), SEEK_SET) != static_cast<off_t>(kHeaderBytes)) {
    return errno_status(ErrorKind::kSource, "cannot read the stored digests " + path_, errno);
  }
  return Status::ok();
}

// Refills the buffer with the next digests (never past the last block's).
Status StoredDigests::fill() {
  const uint64_t left_blocks = blocks_ - next_block_;
  const size_t want = static_cast<size_t>(std::min<uint64_t>(left_blocks, kBufferBytes / digest_len_)) * digest_len_;
  buffer_.resize(want);
  buffer_at_ = 0;
  size_t got = 0;
  int err = read_full(fd_.get(), buffer_.data(), want, &got);
  if (err != 0) return errno_status(ErrorKind::kSource, "cannot read the stored digests " + path_, err);
  if (got != want) return Status(ErrorKind::kSource, "the stored digests " + path_ + " end early: the file is damaged");
  XXH64_update(sum_, buffer_.data(), got);
  return Status::ok();
}

Status StoredDigests::next(uint8_t* out) {
  if (next_block_ >= blocks_) return Status(ErrorKind::kInternal, "read past the stored digests");
  if (buffer_at_ >= buffer_.size()) SPARSYNC_RETURN_IF_ERROR(fill());
  std::memcpy(out, buffer_.data() + buffer_at_, digest_len_);
  buffer_at_ += digest_len_;
  ++next_block_;
  return Status::ok();
}

Status StoredDigests::runs(uint64_t first, uint64_t count, const std::function<Status(TargetRun&&)>& sink) {
  if (first != next_block_ || count > blocks_ - next_block_) {
    return Status(ErrorKind::kProtocol, "skipped blocks reported out of order");
  }
  TargetRun run;
  auto emit = [&]() -> Status {
    if (run.count == 0) return Status::ok();
    Status s = sink(std::move(run));
    run = TargetRun{};
    return s;
  };
  for (uint64_t i = 0; i < count; ++i) {
    if (buffer_at_ >= buffer_.size()) SPARSYNC_RETURN_IF_ERROR(fill());
    const uint8_t* d = buffer_.data() + buffer_at_;
    buffer_at_ += digest_len_;
    const bool zero = all_zero(d, digest_len_);
    if (run.count > 0 && (run.zero != zero || run.count >= kMaxRunBlocks)) SPARSYNC_RETURN_IF_ERROR(emit());
    if (run.count == 0) {
      run.first_block = next_block_;
      run.zero = zero;
    }
    if (!zero) run.digests.insert(run.digests.end(), d, d + digest_len_);
    ++run.count;
    ++next_block_;
  }
  return emit();
}

Status StoredDigests::finish() {
  while (next_block_ < blocks_) {
    if (buffer_at_ >= buffer_.size()) SPARSYNC_RETURN_IF_ERROR(fill());
    const uint64_t n = std::min<uint64_t>(blocks_ - next_block_, (buffer_.size() - buffer_at_) / digest_len_);
    buffer_at_ += n * digest_len_;
    next_block_ += n;
  }
  uint8_t trailer[9];
  size_t got = 0;
  int err = read_full(fd_.get(), trailer, sizeof trailer, &got);
  if (err != 0) return errno_status(ErrorKind::kSource, "cannot read the stored digests " + path_, err);
  uint64_t sum = 0;
  for (int i = 0; i < 8; ++i) sum |= static_cast<uint64_t>(trailer[i]) << (8 * i);
  if (got != 8 || sum != XXH64_digest(sum_)) {
    return Status(ErrorKind::kSource, "the stored digests " + path_ +
                                          " are damaged (checksum); the target is left resumable and the "
                                          "next run compares it in full");
  }
  return Status::ok();
}

}  // namespace sparsync
