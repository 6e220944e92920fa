#include "common/proto/change_messages.h"

#include <algorithm>

#include "common/byte_codec.h"

namespace sparsync::proto {
namespace {

Status malformed(const char* what) {
  return Status(ErrorKind::kProtocol, std::string("malformed ") + what + " message from peer");
}

// 40 + 65536 x 16 bytes: within kMaxPayload.
static_assert(2 * kChangeTokenBytes + 8 + size_t{kMaxChangeRangesPerFrame} * 16 <= kMaxPayload);

}  // namespace

bool is_zero(const ChangeToken& token) {
  return std::all_of(token.begin(), token.end(), [](uint8_t b) { return b == 0; });
}

std::vector<uint8_t> encode(const Changes& m) {
  ByteWriter w;
  w.bytes(m.run_token.data(), m.run_token.size());
  w.bytes(m.base_token.data(), m.base_token.size());
  w.u8(m.flags);
  w.u8(0);
  w.u16(0);
  w.u32(static_cast<uint32_t>(m.ranges.size()));
  for (const ByteRange& r : m.ranges) {
    w.u64(r.offset);
    w.u64(r.length);
  }
  return w.take();
}

Status decode(std::span<const uint8_t> p, Changes* m) {
  ByteReader r(p.data(), p.size());
  uint8_t reserved8 = 0;
  uint16_t reserved16 = 0;
  uint32_t count = 0;
  r.bytes(m->run_token.data(), m->run_token.size());
  r.bytes(m->base_token.data(), m->base_token.size());
  r.u8(&m->flags);
  r.u8(&reserved8);
  r.u16(&reserved16);
  r.u32(&count);
  if (r.failed() || reserved8 != 0 || reserved16 != 0 || (m->flags & ~kChangesMore) != 0 ||
      count > kMaxChangeRangesPerFrame || r.remaining() != static_cast<size_t>(count) * 16) {
    return malformed("CHANGES");
  }
  if (is_zero(m->run_token)) return malformed("CHANGES (no run token)");
  if (is_zero(m->base_token) && count != 0) return malformed("CHANGES (ranges without a base run)");
  m->ranges.clear();
  m->ranges.reserve(count);
  uint64_t last_end = 0;
  for (uint32_t i = 0; i < count; ++i) {
    ByteRange range;
    r.u64(&range.offset);
    r.u64(&range.length);
    // In order, apart, non-empty and without overflow: the target walks them once.
    if (range.length == 0 || range.offset + range.length < range.offset ||
        (!m->ranges.empty() && range.offset <= last_end)) {
      return malformed("CHANGES (ranges out of order, touching or empty)");
    }
    last_end = range.end();
    m->ranges.push_back(range);
  }
  return Status::ok();
}

std::vector<uint8_t> encode(const HashSkip& m) {
  ByteWriter w;
  w.u64(m.first_block);
  w.u64(m.count);
  return w.take();
}

Status decode(std::span<const uint8_t> p, HashSkip* m) {
  ByteReader r(p.data(), p.size());
  r.u64(&m->first_block);
  r.u64(&m->count);
  if (r.failed() || !r.at_end()) return malformed("HASH_SKIP");
  if (m->count == 0) return malformed("HASH_SKIP (empty run)");
  return Status::ok();
}

std::vector<Changes> split_changes(const ChangeToken& run, const ChangeToken& base,
                                   const std::vector<ByteRange>& ranges) {
  std::vector<Changes> frames;
  size_t at = 0;
  do {
    Changes c;
    c.run_token = run;
    c.base_token = base;
    size_t n = std::min<size_t>(ranges.size() - at, kMaxChangeRangesPerFrame);
    c.ranges.assign(ranges.begin() + static_cast<ptrdiff_t>(at), ranges.begin() + static_cast<ptrdiff_t>(at + n));
    at += n;
    if (at < ranges.size()) c.flags |= kChangesMore;
    frames.push_back(std::move(c));
  } while (at < ranges.size());
  return frames;
}

}  // namespace sparsync::proto
