// Typed messages of protocol version 1 and their payload codecs. Pure: turns
// structs into payload bytes and back, with every length checked; no I/O.
// The byte layout of each message is specified in proto/PROTOCOL.md §4.
// Thread-safety: pure functions over value types.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/proto/protocol_constants.h"
#include "common/status.h"

namespace sparsync::proto {

struct Hello {
  uint16_t version = kProtocolVersion;
  uint64_t features = kFeaturesOffered;
  std::string software;  // e.g. "sparsync 0.1.0", informational only
};

struct Open {
  Role role = Role::kServerIsTarget;
  HashKind hash_kind = HashKind::kXxh3_128;
  uint16_t flags = 0;
  uint32_t block_size = 0;
  uint64_t source_size = 0;  // 0 and ignored when the server is the source
  std::string path;
  std::string source_id;  // the client's source identity (push); empty for pull
  // How often the source sends CHECKPOINT; used by a server that is the
  // source (pull), so the user's options reach it.
  uint64_t checkpoint_bytes = 1ull << 30;
  uint32_t checkpoint_seconds = 30;
  // Source options a server that is the source (pull) must honour:
  uint64_t bwlimit = 0;        // DATA bytes per second, 0 = unlimited
  uint8_t compress_level = 0;  // zstd level for DATA_ZSTD, 0 = off
  // The tail sent only with kFeatureSourceFacts (a version 1 peer without
  // it would reject the longer payload): the source's permission bits for a
  // new target (push; 0 unknown). Decoding sets `has_source_facts` when the
  // tail is there.
  bool has_source_facts = false;
  uint32_t source_mode = 0;
  // The tail behind it, sent only with kFeatureGenerations (which a peer
  // offers only beside kFeatureSourceFacts): the target's kept generations
  // of its undo journal, kKeepUnchanged when --keep was not given. Decoding
  // sets `has_keep` when the tail is there; a pull's own target honours
  // `keep` whether or not it went on the wire.
  bool has_keep = false;
  uint16_t keep = kKeepUnchanged;
  // The tail behind it, sent only with kFeatureUndoCap (and the source
  // facts and keep tails) when the user gave --max-undo: the most bytes the target's undo
  // journal may hold, 0 = no cap. Without it the target's default applies
  // (docs/undo-journal.md "Size cap").
  bool has_max_undo = false;
  uint64_t max_undo = 0;
};

struct OpenOk {
  DeviceKind kind = DeviceKind::kRegularFile;
  TargetState state = TargetState::kExisting;
  uint16_t flags = 0;  // OpenOkFlag bits; only with kFeatureSourceFacts
  // Pull: the source's permission bits, for a new target (0 unknown); only
  // with kFeatureSourceFacts, else this word is reserved (0).
  uint32_t source_mode = 0;
  uint64_t size = 0;      // the target's size before the sync, or the source's size
  std::string path;       // the path the server actually opened (absolute)
  std::string source_id;  // the server's source identity (pull); empty for push
};

// Server to client after OPEN_OK when OPEN asked for lanes: where the
// client may connect extra channels (a Unix socket path on the server's
// host; empty: no lanes offered) and the token each must present.
struct Lanes {
  std::array<uint8_t, kLaneTokenBytes> token{};
  std::string path;
};

// Client to server, answering LANES: how many lanes carry the rest of the
// client's stream (0: it stays on the main stream).
struct LanesStart {
  uint16_t count = 0;
};

// Client to server instead of OPEN (with kFeatureRollback): return the
// target at `path` to an earlier state from its undo journal
// (docs/undo-journal.md). `to_kind` and `to_value` are RollbackTo's.
struct Rollback {
  RollbackToKind to_kind = RollbackToKind::kInterrupted;
  uint64_t to_value = 0;
  std::string path;
};

// Server to client, answering ROLLBACK: the one line that says what was done
// (escaped by the client before it is printed: the far side's text).
struct RollbackDone {
  std::string report;
};

// The first bytes on each lane connection (not a frame).
struct LanePreamble {
  std::array<uint8_t, kLaneTokenBytes> token{};
  uint16_t index = 0;
  uint16_t count = 0;
};

// Target to source, first frame of the sync phase: bytes below `offset` are
// durable from an earlier run and are neither compared nor sent.
struct Resume {
  uint64_t offset = 0;
};

struct Hash {
  uint64_t first_block = 0;
  uint32_t count = 0;
  std::vector<uint8_t> digests;  // count * hash_length(kind) bytes
};

struct HashZero {
  uint64_t first_block = 0;
  uint64_t count = 0;
};

struct HashEnd {
  uint64_t total_blocks = 0;
};

// DATA is decoded as a view into the frame payload to avoid a copy.
struct DataView {
  uint64_t offset = 0;
  const uint8_t* bytes = nullptr;
  uint32_t length = 0;
};

// DATA_ZSTD: the same as DATA, its bytes compressed with zstd. Viewed in
// place; raw_length is the decompressed size (<= kMaxDataPerFrame).
struct DataZstdView {
  uint64_t offset = 0;
  uint32_t raw_length = 0;
  const uint8_t* bytes = nullptr;
  uint32_t length = 0;
};

struct Hole {
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct Checkpoint {
  uint64_t offset = 0;
};

struct Ack {
  uint64_t offset = 0;
};

// Target to source during the sync phase (with kFeatureStop): stop as on a
// signal, with a final CHECKPOINT of what was sent. No fields.
struct Stop {};

// Either direction after HELLO (with kFeatureKeepalive): the sender's idle
// timeout, and proof that it is alive; the receiver otherwise ignores it.
struct Keepalive {
  uint32_t timeout_seconds = 0;  // 0: the sender never times out
};

// Source to target after the last DATA/HOLE: the source's own counters, so
// that either side can print the whole story and cross-check it.
struct Done {
  uint64_t final_size = 0;
  uint64_t bytes_scanned = 0;
  uint64_t bytes_read = 0;
  uint64_t data_bytes = 0;
  uint64_t hole_bytes = 0;
  uint64_t unchanged_blocks = 0;
  uint64_t changed_blocks = 0;
};

// Target to source, after everything is durable.
struct Summary {
  uint64_t bytes_written = 0;
  uint64_t bytes_zeroed = 0;
  uint64_t blocks_hashed = 0;
  uint64_t bytes_hashed = 0;  // bytes the target actually read to hash
  uint64_t final_size = 0;
  ZeroMethod zero_method = ZeroMethod::kNone;
  // The tail sent only with kFeatureGenerations: the target's undo journal
  // as the run ended (bytes, 0 for none) and the generations it keeps now.
  bool has_undo = false;
  uint64_t undo_bytes = 0;
  uint16_t generations_kept = 0;
};

// Either side to the other after SUMMARY when OPEN had kOpenVerify: SHA-256
// digests of consecutive kVerifyRegionBytes regions, then the whole image's.
struct VerifyDigests {
  uint64_t first_region = 0;
  uint32_t count = 0;
  std::vector<uint8_t> digests;  // count * 32 bytes
};

struct VerifyEnd {
  uint8_t digest[32] = {};
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

std::vector<uint8_t> encode(const Hello& m);
std::vector<uint8_t> encode(const Open& m);
std::vector<uint8_t> encode(const OpenOk& m);
std::vector<uint8_t> encode(const Lanes& m);
std::vector<uint8_t> encode(const LanesStart& m);
std::vector<uint8_t> encode(const LanePreamble& m);
std::vector<uint8_t> encode(const Rollback& m);
// A report over kMaxTextBytes is cut there, as ERROR's message is.
std::vector<uint8_t> encode(const RollbackDone& m);
std::vector<uint8_t> encode(const Hash& m);
std::vector<uint8_t> encode(const HashZero& m);
std::vector<uint8_t> encode(const HashEnd& m);
std::vector<uint8_t> encode(const Hole& m);
std::vector<uint8_t> encode(const Checkpoint& m);
std::vector<uint8_t> encode(const Ack& m);
std::vector<uint8_t> encode(const Stop& m);
std::vector<uint8_t> encode(const Keepalive& m);
std::vector<uint8_t> encode(const Done& m);
std::vector<uint8_t> encode(const Summary& m);
std::vector<uint8_t> encode(const Error& m);
std::vector<uint8_t> encode(const Resume& m);
std::vector<uint8_t> encode(const VerifyDigests& m);
std::vector<uint8_t> encode(const VerifyEnd& m);
// DATA's payload (PROTOCOL.md §4.6): u64 offset, then the image bytes. The
// prefix is encoded on its own so that the bytes go out without a copy.
inline constexpr size_t kDataPrefixBytes = 8;
void encode_data_prefix(uint64_t offset, uint8_t (&out)[kDataPrefixBytes]);
std::vector<uint8_t> encode_data_prefix(uint64_t offset);
// DATA_ZSTD's payload (§4.6a): u64 offset, u32 raw length, then the zstd frame.
inline constexpr size_t kDataZstdPrefixBytes = 12;
void encode_data_zstd_prefix(uint64_t offset, uint32_t raw_length, uint8_t (&out)[kDataZstdPrefixBytes]);

Status decode(std::span<const uint8_t> payload, Hello* m);
Status decode(std::span<const uint8_t> payload, Open* m);
Status decode(std::span<const uint8_t> payload, OpenOk* m);
Status decode(std::span<const uint8_t> payload, Lanes* m);
Status decode(std::span<const uint8_t> payload, LanesStart* m);
Status decode(std::span<const uint8_t> payload, LanePreamble* m);
Status decode(std::span<const uint8_t> payload, Rollback* m);
Status decode(std::span<const uint8_t> payload, RollbackDone* m);
Status decode(std::span<const uint8_t> payload, size_t hash_len, Hash* m);
Status decode(std::span<const uint8_t> payload, HashZero* m);
Status decode(std::span<const uint8_t> payload, HashEnd* m);
Status decode(std::span<const uint8_t> payload, DataView* m);
Status decode(std::span<const uint8_t> payload, DataZstdView* m);
Status decode(std::span<const uint8_t> payload, Hole* m);
Status decode(std::span<const uint8_t> payload, Checkpoint* m);
Status decode(std::span<const uint8_t> payload, Ack* m);
Status decode(std::span<const uint8_t> payload, Stop* m);
Status decode(std::span<const uint8_t> payload, Keepalive* m);
Status decode(std::span<const uint8_t> payload, Done* m);
Status decode(std::span<const uint8_t> payload, Summary* m);
Status decode(std::span<const uint8_t> payload, Error* m);
Status decode(std::span<const uint8_t> payload, Resume* m);
Status decode(std::span<const uint8_t> payload, VerifyDigests* m);
Status decode(std::span<const uint8_t> payload, VerifyEnd* m);

const char* msg_type_name(MsgType type);

}  // namespace sparsync::proto
