#include "target/target_hasher.h"

#include <algorithm>
#include <cstring>

#include "common/block_hash.h"
#include "common/proto/change_messages.h"
#include "common/proto/messages.h"

namespace sparsync {
namespace {
// Small enough that a read's bytes are still in the CPU's L2 cache when they
// are hashed (read into 1 MiB, the hash pass went to memory again).
constexpr uint64_t kReadBytes = 256u << 10;
// A HASH frame carries up to this many digests (4 KiB of XXH3-128), about
// 1 % framing. A partial frame waits only as long as the next reads take (a
// hole and the end flush it); the hasher never waits for the source.
constexpr uint64_t kDigestsPerFrame = 256;
// A listed range shorter than this is read without asking where its holes
// are (source/source_reader.cpp says why: SEEK_DATA on a fragmented XFS file).
constexpr uint64_t kMapHolesFrom = 1u << 20;
}  // namespace

TargetHasher::TargetHasher(Device* device, const SessionParams& params, uint64_t start_offset, uint64_t readable_size,
                           bool known_zero, FrameOutbox& outbox, const std::vector<ByteRange>* only)
    : device_(device),
      params_(params),
      start_offset_(start_offset),
      readable_size_(readable_size),
      known_zero_(known_zero),
      outbox_(outbox),
      only_(only) {}

Status TargetHasher::flush_skip() {
  if (skip_count_ == 0) return Status::ok();
  Frame f{proto::MsgType::kHashSkip, proto::encode(proto::HashSkip{skip_first_, skip_count_})};
  skip_count_ = 0;
  if (!outbox_.push_bulk(std::move(f))) return Status(ErrorKind::kConnection, "stopped");
  return Status::ok();
}

// Reports the blocks from `pos_` up to `end` (a block boundary or the image
// end) as skipped, unread.
Status TargetHasher::skip_to(uint64_t end) {
  const uint64_t bs = params_.block_size;
  const uint64_t first = (pos_ + bs - 1) / bs;
  const uint64_t last = (end + bs - 1) / bs;
  if (last <= first) return Status::ok();
  SPARSYNC_RETURN_IF_ERROR(flush_hashes());
  SPARSYNC_RETURN_IF_ERROR(flush_zero());
  if (skip_count_ == 0) skip_first_ = first;
  skip_count_ += last - first;
  pos_ = end;
  return Status::ok();
}

// At most one kind of report is pending at a time: each flush of one kind
// first flushes a pending skip, and a skip starts only after both others
// were flushed, so the reports leave in block order.
Status TargetHasher::flush_zero() {
  SPARSYNC_RETURN_IF_ERROR(flush_skip());
  if (zero_count_ == 0) return Status::ok();
  Frame f{proto::MsgType::kHashZero, proto::encode(proto::HashZero{zero_first_, zero_count_})};
  zero_count_ = 0;
  if (!outbox_.push_bulk(std::move(f))) return Status(ErrorKind::kConnection, "stopped");
  return Status::ok();
}

Status TargetHasher::flush_hashes() {
  SPARSYNC_RETURN_IF_ERROR(flush_skip());
  if (hash_count_ == 0) return Status::ok();
  proto::Hash h{hash_first_, hash_count_, std::move(digests_)};
  digests_.clear();
  hash_count_ = 0;
  if (!outbox_.push_bulk(Frame{proto::MsgType::kHash, proto::encode(h)})) {
    return Status(ErrorKind::kConnection, "stopped");
  }
  return Status::ok();
}

// Reads [pos, end) (block-aligned start; end is a block boundary or the image
// end) and classifies each block.
Status TargetHasher::hash_data(uint64_t pos, uint64_t end, ByteBuffer& buf) {
  const size_t digest_len = proto::hash_length(params_.hash_kind);
  const uint64_t len = end - pos;
  buf.resize(len);
  // Bytes past the target's existing content read as zeros.
  uint64_t readable = pos < readable_size_ ? std::min(end, readable_size_) - pos : 0;
  if (readable > 0) SPARSYNC_RETURN_IF_ERROR(device_->read_at(pos, buf.data(), readable));
  std::memset(buf.data() + readable, 0, len - readable);
  bytes_read_.fetch_add(readable);
  for (uint64_t done = 0; done < len;) {
    uint64_t block = (pos + done) / params_.block_size;
    uint32_t blen = params_.block_length(block);
    if (is_all_zero(buf.data() + done, blen)) {
      SPARSYNC_RETURN_IF_ERROR(flush_hashes());
      if (zero_count_ == 0) zero_first_ = block;
      ++zero_count_;
    } else {
      SPARSYNC_RETURN_IF_ERROR(flush_zero());
      if (hash_count_ == 0) hash_first_ = block;
      size_t at = digests_.size();
      digests_.resize(at + digest_len);
      digest_block(params_.hash_kind, buf.data() + done, blen, digests_.data() + at);
      ++hash_count_;
      blocks_hashed_.fetch_add(1);
      if (hash_count_ >= kDigestsPerFrame) SPARSYNC_RETURN_IF_ERROR(flush_hashes());
    }
    done += blen;
  }
  return Status::ok();
}

// Hashes [pos, end): `pos` block-aligned, `end` a block boundary or the
// image end.
Status TargetHasher::hash_span(uint64_t pos, uint64_t end) {
  const uint64_t size = params_.image_size;
  const uint64_t bs = params_.block_size;
  const uint64_t limit = known_zero_ ? 0 : std::min({readable_size_, size, end});
  // The extent holding pos, looked up again only once pos leaves it (two
  // lseeks per 256 KiB read were 32 k system calls of a 4 GiB pass).
  Extent ext;
  if (only_ != nullptr && end - pos < kMapHolesFrom && pos < limit) ext = Extent{pos, limit - pos, false};
  while (pos < limit) {
    if (cancelled_.load()) return Status(ErrorKind::kInterrupted, "hashing cancelled");
    if (pos >= ext.offset + ext.length) SPARSYNC_RETURN_IF_ERROR(device_->next_extent(pos, limit, &ext));
    uint64_t ext_end = ext.offset + ext.length;
    if (ext.hole) {
      uint64_t hole_end = ext_end == limit ? limit : ext_end / bs * bs;
      // A hole reaching `limit` covers the straddling block too: past limit
      // the block reads as zeros as well.
      if (hole_end > pos) {
        SPARSYNC_RETURN_IF_ERROR(flush_hashes());
        uint64_t first = pos / bs, count = (hole_end - pos + bs - 1) / bs;
        if (zero_count_ == 0) zero_first_ = first;
        zero_count_ += count;
        pos = first * bs + count * bs;
        continue;
      }
      ext_end = pos + bs;
    }
    uint64_t stop = std::min({end, pos + std::max<uint64_t>(kReadBytes, bs), (ext_end + bs - 1) / bs * bs});
    SPARSYNC_RETURN_IF_ERROR(hash_data(pos, stop, buf_));
    pos = stop;
  }
  // Everything past the existing content is zero (a new or extended file).
  uint64_t first = (pos + bs - 1) / bs;
  uint64_t last = (end + bs - 1) / bs;
  if (first < last) {
    SPARSYNC_RETURN_IF_ERROR(flush_hashes());
    if (zero_count_ == 0) zero_first_ = first;
    zero_count_ += last - first;
  }
  pos_ = end;
  return Status::ok();
}

Status TargetHasher::run() {
  const uint64_t total = params_.total_blocks();
  const uint64_t size = params_.image_size;
  pos_ = start_offset_;
  if (only_ == nullptr) {
    SPARSYNC_RETURN_IF_ERROR(hash_span(pos_, size));
  } else {
    for (const ByteRange& r : *only_) {
      const uint64_t end = std::min(size, r.end());
      if (end <= pos_) continue;
      SPARSYNC_RETURN_IF_ERROR(skip_to(std::max(pos_, r.offset)));
      SPARSYNC_RETURN_IF_ERROR(hash_span(pos_, end));
    }
    SPARSYNC_RETURN_IF_ERROR(skip_to(size));
  }
  SPARSYNC_RETURN_IF_ERROR(flush_zero());
  SPARSYNC_RETURN_IF_ERROR(flush_hashes());
  if (!outbox_.push_bulk(Frame{proto::MsgType::kHashEnd, proto::encode(proto::HashEnd{total})})) {
    return Status(ErrorKind::kConnection, "stopped");
  }
  return Status::ok();
}

}  // namespace sparsync
