#include "common/proto/messages.h"

#include <cstring>

#include "common/byte_codec.h"

namespace sparsync::proto {
namespace {

Status malformed(const char* what) {
  return Status(ErrorKind::kProtocol, std::string("malformed ") + what + " message from peer");
}

// Every decoder must consume the payload exactly: trailing bytes are an error,
// so a peer of a newer layout is caught instead of half-understood.
Status finish(const ByteReader& r, const char* what) {
  if (r.failed() || !r.at_end()) return malformed(what);
  return Status::ok();
}

}  // namespace

std::vector<uint8_t> encode(const Hello& m) {
  ByteWriter w;
  w.bytes(kHelloMagic, sizeof(kHelloMagic));
  w.u16(m.version);
  w.u16(0);
  w.u64(m.features);
  w.str(m.software);
  return w.take();
}

std::vector<uint8_t> encode(const Open& m) {
  ByteWriter w;
  w.u8(static_cast<uint8_t>(m.role));
  w.u8(static_cast<uint8_t>(m.hash_kind));
  w.u16(m.flags);
  w.u32(m.block_size);
  w.u64(m.source_size);
  w.str(m.path);
  w.str(m.source_id);
  w.u64(m.checkpoint_bytes);
  w.u32(m.checkpoint_seconds);
  w.u64(m.bwlimit);
  w.u8(m.compress_level);
  if (m.has_source_facts) w.u32(m.source_mode);
  if (m.has_source_facts && m.has_keep) w.u16(m.keep);
  if (m.has_source_facts && m.has_keep && m.has_max_undo) w.u64(m.max_undo);
  return w.take();
}

std::vector<uint8_t> encode(const OpenOk& m) {
  ByteWriter w;
  w.u8(static_cast<uint8_t>(m.kind));
  w.u8(static_cast<uint8_t>(m.state));
  w.u16(m.flags);
  w.u32(m.source_mode);
  w.u64(m.size);
  w.str(m.path);
  w.str(m.source_id);
  return w.take();
}

std::vector<uint8_t> encode(const Hash& m) {
  ByteWriter w;
  w.u64(m.first_block);
  w.u32(m.count);
  w.u32(0);
  w.bytes(m.digests.data(), m.digests.size());
  return w.take();
}

std::vector<uint8_t> encode(const HashZero& m) {
  ByteWriter w;
  w.u64(m.first_block);
  w.u64(m.count);
  return w.take();
}

std::vector<uint8_t> encode(const HashEnd& m) {
  ByteWriter w;
  w.u64(m.total_blocks);
  return w.take();
}

std::vector<uint8_t> encode(const Hole& m) {
  ByteWriter w;
  w.u64(m.offset);
  w.u64(m.length);
  return w.take();
}

std::vector<uint8_t> encode(const Checkpoint& m) {
  ByteWriter w;
  w.u64(m.offset);
  return w.take();
}

std::vector<uint8_t> encode(const Ack& m) {
  ByteWriter w;
  w.u64(m.offset);
  return w.take();
}

std::vector<uint8_t> encode(const Stop& /*m*/) { return {}; }

std::vector<uint8_t> encode(const Keepalive& m) {
  ByteWriter w;
  w.u32(m.timeout_seconds);
  return w.take();
}

std::vector<uint8_t> encode(const Done& m) {
  ByteWriter w;
  w.u64(m.final_size);
  w.u64(m.bytes_scanned);
  w.u64(m.bytes_read);
  w.u64(m.data_bytes);
  w.u64(m.hole_bytes);
  w.u64(m.unchanged_blocks);
  w.u64(m.changed_blocks);
  return w.take();
}

std::vector<uint8_t> encode(const Summary& m) {
  ByteWriter w;
  w.u64(m.bytes_written);
  w.u64(m.bytes_zeroed);
  w.u64(m.blocks_hashed);
  w.u64(m.bytes_hashed);
  w.u64(m.final_size);
  w.u8(static_cast<uint8_t>(m.zero_method));
  if (m.has_undo) {
    w.u64(m.undo_bytes);
    w.u16(m.generations_kept);
  }
  return w.take();
}

std::vector<uint8_t> encode(const Error& m) {
  ByteWriter w;
  w.u16(static_cast<uint16_t>(m.code));
  w.str(m.message.size() > kMaxTextBytes ? m.message.substr(0, kMaxTextBytes) : m.message);
  return w.take();
}

std::vector<uint8_t> encode(const Lanes& m) {
  ByteWriter w;
  w.bytes(m.token.data(), m.token.size());
  w.str(m.path);
  return w.take();
}

std::vector<uint8_t> encode(const LanesStart& m) {
  ByteWriter w;
  w.u16(m.count);
  w.u16(0);
  return w.take();
}

std::vector<uint8_t> encode(const LanePreamble& m) {
  ByteWriter w;
  w.bytes(m.token.data(), m.token.size());
  w.u16(m.index);
  w.u16(m.count);
  return w.take();
}

std::vector<uint8_t> encode(const Rollback& m) {
  ByteWriter w;
  w.u8(static_cast<uint8_t>(m.to_kind));
  w.u64(m.to_value);
  w.str(m.path);
  return w.take();
}

std::vector<uint8_t> encode(const RollbackDone& m) {
  ByteWriter w;
  w.str(m.report.size() > kMaxTextBytes ? m.report.substr(0, kMaxTextBytes) : m.report);
  return w.take();
}

std::vector<uint8_t> encode(const Resume& m) {
  ByteWriter w;
  w.u64(m.offset);
  return w.take();
}

std::vector<uint8_t> encode(const VerifyDigests& m) {
  ByteWriter w;
  w.u64(m.first_region);
  w.u32(m.count);
  w.u32(0);
  w.bytes(m.digests.data(), m.digests.size());
  return w.take();
}

std::vector<uint8_t> encode(const VerifyEnd& m) {
  ByteWriter w;
  w.bytes(m.digest, sizeof(m.digest));
  return w.take();
}

void encode_data_prefix(uint64_t offset, uint8_t (&out)[kDataPrefixBytes]) { store_le(out, offset, 8); }

std::vector<uint8_t> encode_data_prefix(uint64_t offset) {
  std::vector<uint8_t> out(kDataPrefixBytes);
  store_le(out.data(), offset, 8);
  return out;
}

void encode_data_zstd_prefix(uint64_t offset, uint32_t raw_length, uint8_t (&out)[kDataZstdPrefixBytes]) {
  store_le(out, offset, 8);
  store_le(out + 8, raw_length, 4);
}

Status decode(std::span<const uint8_t> p, Hello* m) {
  ByteReader r(p.data(), p.size());
  char magic[sizeof(kHelloMagic)];
  uint16_t reserved = 0;
  if (!r.bytes(magic, sizeof(magic)) || std::memcmp(magic, kHelloMagic, sizeof(magic)) != 0) {
    return Status(ErrorKind::kProtocol,
                  "peer did not greet with the sparsync magic (not a sparsync server, or "
                  "something on the far side printed to stdout)");
  }
  r.u16(&m->version);
  r.u16(&reserved);
  r.u64(&m->features);
  r.str(&m->software, kMaxTextBytes);
  return finish(r, "HELLO");
}

Status decode(std::span<const uint8_t> p, Open* m) {
  ByteReader r(p.data(), p.size());
  uint8_t role = 0, hash = 0;
  r.u8(&role);
  r.u8(&hash);
  r.u16(&m->flags);
  r.u32(&m->block_size);
  r.u64(&m->source_size);
  r.str(&m->path, kMaxPathBytes);
  r.str(&m->source_id, kMaxTextBytes);
  r.u64(&m->checkpoint_bytes);
  r.u32(&m->checkpoint_seconds);
  r.u64(&m->bwlimit);
  r.u8(&m->compress_level);
  // The optional tails: nothing, source_mode (kFeatureSourceFacts), or
  // source_mode and keep (kFeatureGenerations too), and max_undo behind
  // them (kFeatureUndoCap too, when --max-undo was given).
  const size_t tail = r.failed() ? 0 : r.remaining();
  m->has_source_facts = tail == 4 || tail == 6 || tail == 14;
  if (m->has_source_facts) r.u32(&m->source_mode);
  m->has_keep = tail == 6 || tail == 14;
  if (m->has_keep) r.u16(&m->keep);
  m->has_max_undo = tail == 14;
  if (m->has_max_undo) r.u64(&m->max_undo);
  SPARSYNC_RETURN_IF_ERROR(finish(r, "OPEN"));
  if (m->has_keep && m->keep > kMaxKeepGenerations && m->keep != kKeepUnchanged) return malformed("OPEN (keep)");
  if (m->source_mode > 07777) return malformed("OPEN (source mode)");
  if (m->compress_level > kMaxCompressLevel) return malformed("OPEN (compression level)");
  if (m->flags & ~kOpenKnownFlags) return malformed("OPEN (unknown flags)");
  if (role != static_cast<uint8_t>(Role::kServerIsTarget) && role != static_cast<uint8_t>(Role::kServerIsSource)) {
    return malformed("OPEN (unknown role)");
  }
  if (hash != static_cast<uint8_t>(HashKind::kXxh3_128) && hash != static_cast<uint8_t>(HashKind::kSha256)) {
    return malformed("OPEN (unknown hash kind)");
  }
  m->role = static_cast<Role>(role);
  m->hash_kind = static_cast<HashKind>(hash);
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, OpenOk* m) {
  ByteReader r(p.data(), p.size());
  uint8_t kind = 0, state = 0;
  r.u8(&kind);
  r.u8(&state);
  r.u16(&m->flags);
  r.u32(&m->source_mode);
  r.u64(&m->size);
  r.str(&m->path, kMaxPathBytes);
  r.str(&m->source_id, kMaxTextBytes);
  SPARSYNC_RETURN_IF_ERROR(finish(r, "OPEN_OK"));
  if (kind < 1 || kind > 2 || state > 2) return malformed("OPEN_OK (unknown kind or state)");
  if ((m->flags & ~kOpenOkKnownFlags) != 0 || m->source_mode > 07777) {
    return malformed("OPEN_OK (unknown flags or source mode)");
  }
  m->kind = static_cast<DeviceKind>(kind);
  m->state = static_cast<TargetState>(state);
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, size_t hash_len, Hash* m) {
  ByteReader r(p.data(), p.size());
  uint32_t reserved = 0;
  r.u64(&m->first_block);
  r.u32(&m->count);
  r.u32(&reserved);
  if (r.failed() || m->count == 0 || r.remaining() != static_cast<size_t>(m->count) * hash_len) {
    return malformed("HASH (digest bytes do not match the count)");
  }
  m->digests.assign(r.pos(), r.pos() + r.remaining());
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, HashZero* m) {
  ByteReader r(p.data(), p.size());
  r.u64(&m->first_block);
  r.u64(&m->count);
  SPARSYNC_RETURN_IF_ERROR(finish(r, "HASH_ZERO"));
  if (m->count == 0) return malformed("HASH_ZERO (empty run)");
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, HashEnd* m) {
  ByteReader r(p.data(), p.size());
  r.u64(&m->total_blocks);
  return finish(r, "HASH_END");
}

Status decode(std::span<const uint8_t> p, DataView* m) {
  ByteReader r(p.data(), p.size());
  if (!r.u64(&m->offset) || r.remaining() == 0 || r.remaining() > kMaxDataPerFrame) {
    return malformed("DATA");
  }
  m->bytes = r.pos();
  m->length = static_cast<uint32_t>(r.remaining());
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, DataZstdView* m) {
  ByteReader r(p.data(), p.size());
  if (!r.u64(&m->offset) || !r.u32(&m->raw_length) || m->raw_length == 0 || m->raw_length > kMaxDataPerFrame ||
      r.remaining() == 0) {
    return malformed("DATA_ZSTD");
  }
  m->bytes = r.pos();
  m->length = static_cast<uint32_t>(r.remaining());
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, Hole* m) {
  ByteReader r(p.data(), p.size());
  r.u64(&m->offset);
  r.u64(&m->length);
  SPARSYNC_RETURN_IF_ERROR(finish(r, "HOLE"));
  if (m->length == 0) return malformed("HOLE (empty range)");
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, Checkpoint* m) {
  ByteReader r(p.data(), p.size());
  r.u64(&m->offset);
  return finish(r, "CHECKPOINT");
}

Status decode(std::span<const uint8_t> p, Ack* m) {
  ByteReader r(p.data(), p.size());
  r.u64(&m->offset);
  return finish(r, "ACK");
}

Status decode(std::span<const uint8_t> p, Stop* /*m*/) {
  ByteReader r(p.data(), p.size());
  return finish(r, "STOP");
}

Status decode(std::span<const uint8_t> p, Keepalive* m) {
  ByteReader r(p.data(), p.size());
  r.u32(&m->timeout_seconds);
  return finish(r, "KEEPALIVE");
}

Status decode(std::span<const uint8_t> p, Done* m) {
  ByteReader r(p.data(), p.size());
  r.u64(&m->final_size);
  r.u64(&m->bytes_scanned);
  r.u64(&m->bytes_read);
  r.u64(&m->data_bytes);
  r.u64(&m->hole_bytes);
  r.u64(&m->unchanged_blocks);
  r.u64(&m->changed_blocks);
  return finish(r, "DONE");
}

Status decode(std::span<const uint8_t> p, Summary* m) {
  ByteReader r(p.data(), p.size());
  uint8_t method = 0;
  r.u64(&m->bytes_written);
  r.u64(&m->bytes_zeroed);
  r.u64(&m->blocks_hashed);
  r.u64(&m->bytes_hashed);
  r.u64(&m->final_size);
  r.u8(&method);
  m->has_undo = !r.failed() && r.remaining() == 10;
  if (m->has_undo) {
    r.u64(&m->undo_bytes);
    r.u16(&m->generations_kept);
  }
  SPARSYNC_RETURN_IF_ERROR(finish(r, "SUMMARY"));
  if (m->generations_kept > kMaxKeepGenerations) return malformed("SUMMARY (generations)");
  if (method > static_cast<uint8_t>(ZeroMethod::kWriteZeros)) return malformed("SUMMARY");
  m->zero_method = static_cast<ZeroMethod>(method);
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, Error* m) {
  ByteReader r(p.data(), p.size());
  uint16_t code = 0;
  r.u16(&code);
  r.str(&m->message, kMaxTextBytes);
  SPARSYNC_RETURN_IF_ERROR(finish(r, "ERROR"));
  if (code < 1 || code > 8) code = static_cast<uint16_t>(ErrorCode::kInternal);
  m->code = static_cast<ErrorCode>(code);
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, Lanes* m) {
  ByteReader r(p.data(), p.size());
  r.bytes(m->token.data(), m->token.size());
  r.str(&m->path, kMaxPathBytes);
  return finish(r, "LANES");
}

Status decode(std::span<const uint8_t> p, LanesStart* m) {
  ByteReader r(p.data(), p.size());
  uint16_t reserved = 0;
  r.u16(&m->count);
  r.u16(&reserved);
  SPARSYNC_RETURN_IF_ERROR(finish(r, "LANES_START"));
  if (m->count == 1 || m->count > kMaxLanes) return malformed("LANES_START");
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, LanePreamble* m) {
  ByteReader r(p.data(), p.size());
  r.bytes(m->token.data(), m->token.size());
  r.u16(&m->index);
  r.u16(&m->count);
  SPARSYNC_RETURN_IF_ERROR(finish(r, "lane preamble"));
  if (m->count < 2 || m->count > kMaxLanes || m->index >= m->count) return malformed("lane preamble");
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, Rollback* m) {
  ByteReader r(p.data(), p.size());
  uint8_t kind = 0;
  r.u8(&kind);
  r.u64(&m->to_value);
  r.str(&m->path, kMaxPathBytes);
  SPARSYNC_RETURN_IF_ERROR(finish(r, "ROLLBACK"));
  if (kind > kMaxRollbackToKind) return malformed("ROLLBACK (unknown to_kind)");
  m->to_kind = static_cast<RollbackToKind>(kind);
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, RollbackDone* m) {
  ByteReader r(p.data(), p.size());
  r.str(&m->report, kMaxTextBytes);
  return finish(r, "ROLLBACK_DONE");
}

Status decode(std::span<const uint8_t> p, Resume* m) {
  ByteReader r(p.data(), p.size());
  r.u64(&m->offset);
  return finish(r, "RESUME");
}

Status decode(std::span<const uint8_t> p, VerifyDigests* m) {
  ByteReader r(p.data(), p.size());
  uint32_t reserved = 0;
  r.u64(&m->first_region);
  r.u32(&m->count);
  r.u32(&reserved);
  if (r.failed() || m->count == 0 || m->count > kVerifyDigestsPerFrame ||
      r.remaining() != static_cast<size_t>(m->count) * 32) {
    return malformed("VERIFY_DIGESTS");
  }
  m->digests.assign(r.pos(), r.pos() + r.remaining());
  return Status::ok();
}

Status decode(std::span<const uint8_t> p, VerifyEnd* m) {
  ByteReader r(p.data(), p.size());
  r.bytes(m->digest, sizeof(m->digest));
  return finish(r, "VERIFY_END");
}

const char* msg_type_name(MsgType type) {
  switch (type) {
    case MsgType::kHello:
      return "HELLO";
    case MsgType::kOpen:
      return "OPEN";
    case MsgType::kOpenOk:
      return "OPEN_OK";
    case MsgType::kLanes:
      return "LANES";
    case MsgType::kLanesStart:
      return "LANES_START";
    case MsgType::kRollback:
      return "ROLLBACK";
    case MsgType::kRollbackDone:
      return "ROLLBACK_DONE";
    case MsgType::kHash:
      return "HASH";
    case MsgType::kHashZero:
      return "HASH_ZERO";
    case MsgType::kHashEnd:
      return "HASH_END";
    case MsgType::kHashSkip:
      return "HASH_SKIP";
    case MsgType::kChanges:
      return "CHANGES";
    case MsgType::kResume:
      return "RESUME";
    case MsgType::kVerifyDigests:
      return "VERIFY_DIGESTS";
    case MsgType::kVerifyEnd:
      return "VERIFY_END";
    case MsgType::kData:
      return "DATA";
    case MsgType::kHole:
      return "HOLE";
    case MsgType::kDataZstd:
      return "DATA_ZSTD";
    case MsgType::kCheckpoint:
      return "CHECKPOINT";
    case MsgType::kAck:
      return "ACK";
    case MsgType::kStop:
      return "STOP";
    case MsgType::kKeepalive:
      return "KEEPALIVE";
    case MsgType::kDone:
      return "DONE";
    case MsgType::kSummary:
      return "SUMMARY";
    case MsgType::kError:
      return "ERROR";
  }
  return "UNKNOWN";
}

}  // namespace sparsync::proto
