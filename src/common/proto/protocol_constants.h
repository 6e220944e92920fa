// Wire constants of the sparsync protocol. Normative source: proto/PROTOCOL.md
// (version 1). Change nothing here without changing that document and its
// version history; the byte examples there are golden vectors in
// tests/unit/golden_vectors_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sparsync::proto {

// PROTOCOL.md §1: version spoken by this build.
inline constexpr uint16_t kProtocolVersion = 1;

// PROTOCOL.md §3: 8-byte ASCII magic opening every HELLO.
inline constexpr char kHelloMagic[8] = {'s', 'p', 'a', 'r', 's', 'y', 'n', 'c'};

// PROTOCOL.md §2: frame header is type u8, three zero bytes, length u32.
inline constexpr size_t kFrameHeaderSize = 8;
// Largest DATA payload body: 1 MiB of image bytes.
inline constexpr uint32_t kMaxDataPerFrame = 1u << 20;
// Largest payload any frame may carry; a receiver rejects a bigger length
// before allocating anything.
inline constexpr uint32_t kMaxPayload = kMaxDataPerFrame + 4096;
// Longest path in OPEN/OPEN_OK and longest text in ERROR/HELLO.
inline constexpr uint32_t kMaxPathBytes = 4096;
inline constexpr uint32_t kMaxTextBytes = 4096;

enum class MsgType : uint8_t {
  kHello = 0x01,
  kOpen = 0x02,
  kOpenOk = 0x03,
  kLanes = 0x04,
  kLanesStart = 0x05,
  kRollback = 0x06,
  kRollbackDone = 0x07,
  kChanges = 0x08,
  kHash = 0x10,
  kHashZero = 0x11,
  kHashEnd = 0x12,
  kResume = 0x13,
  kHashSkip = 0x14,
  kData = 0x20,
  kHole = 0x21,
  kDataZstd = 0x22,
  kCheckpoint = 0x30,
  kAck = 0x31,
  kStop = 0x32,
  kDone = 0x40,
  kSummary = 0x41,
  kVerifyDigests = 0x50,
  kVerifyEnd = 0x51,
  kKeepalive = 0x60,
  kError = 0x7f,
};

// PROTOCOL.md §3: feature bits offered in HELLO; the session uses the
// intersection of both sides' bits.
enum Feature : uint64_t {
  kFeatureXxh3 = 1u << 0,
  kFeatureSha256 = 1u << 1,
  kFeatureCheckpoint = 1u << 2,
  kFeatureZstd = 1u << 3,       // DATA_ZSTD frames (--compress)
  kFeatureLanes = 1u << 4,      // LANES/LANES_START: a push's stream over several channels
  kFeatureKeepalive = 1u << 5,  // KEEPALIVE: idle timeouts announced, quiet streams kept alive
  kFeatureStop = 1u << 6,       // STOP: the target asks the source for a final checkpoint
  // OPEN's source_mode tail, OPEN_OK's source_mode and flags (§4.1, §4.2)
  kFeatureSourceFacts = 1u << 8,
  // OPEN's keep tail and SUMMARY's journal tail: kept generations (--keep)
  kFeatureGenerations = 1u << 9,
  // ROLLBACK/ROLLBACK_DONE: the client asks the server to roll a target back (§4.18)
  kFeatureRollback = 1u << 10,
  // OPEN's max_undo tail (§4.1): the cap on the target's undo journal (--max-undo)
  kFeatureUndoCap = 1u << 11,
  // CHANGES and HASH_SKIP (§4.19): a push confined to a change list
  kFeatureChanges = 1u << 12,
};
inline constexpr uint64_t kFeaturesOffered = kFeatureXxh3 | kFeatureSha256 | kFeatureCheckpoint | kFeatureZstd |
                                             kFeatureLanes | kFeatureKeepalive | kFeatureStop | kFeatureSourceFacts |
                                             kFeatureGenerations | kFeatureRollback | kFeatureUndoCap | kFeatureChanges;

// PROTOCOL.md §4 OPEN: which role the server plays.
enum class Role : uint8_t { kServerIsTarget = 1, kServerIsSource = 2 };

// PROTOCOL.md §4 OPEN: hash kinds and their digest lengths.
enum class HashKind : uint8_t { kXxh3_128 = 1, kSha256 = 2 };
inline constexpr size_t hash_length(HashKind kind) { return kind == HashKind::kSha256 ? 32 : 16; }

// PROTOCOL.md §4 OPEN flags.
enum OpenFlag : uint16_t {
  kOpenDryRun = 1u << 0,
  kOpenAllowLargerTarget = 1u << 1,
  kOpenRestart = 1u << 2,    // ignore any checkpoint: compare from offset 0
  kOpenVerify = 1u << 3,     // after SUMMARY, both sides exchange SHA-256 digests
  kOpenForce = 1u << 4,      // target: skip the mount check (exclusive open still applies)
  kOpenRetry = 1u << 5,      // an automatic retry: wait briefly for the previous run's lock
  kOpenLanes = 1u << 6,      // push: the client can carry its stream over lanes (§4.15)
  kOpenNoUndo = 1u << 7,     // target: keep no undo journal (§6, docs/undo-journal.md)
  kOpenUndo = 1u << 8,       // target: keep one for a block device too (in the state directory)
  kOpenKeepCache = 1u << 9,  // read both images through the page cache and leave them there
  kOpenChanges = 1u << 10,   // push, kFeatureChanges: CHANGES frames follow OPEN (§4.19)
};
inline constexpr uint16_t kOpenKnownFlags = 0x07ff;

// PROTOCOL.md §4.19 CHANGES: a run's token, the most ranges one frame
// carries, and the most a whole change list may hold (4 MiB of ranges).
inline constexpr size_t kChangeTokenBytes = 16;
inline constexpr uint32_t kMaxChangeRangesPerFrame = 65536;
inline constexpr uint32_t kMaxChangeRanges = 262144;
enum ChangesFlag : uint8_t {
  kChangesMore = 1u << 0,  // another CHANGES frame follows
};

// PROTOCOL.md §4.1 OPEN's keep (kFeatureGenerations): how many kept
// generations of the target's undo journal (docs/undo-journal.md); this value
// means "as many as the target keeps now" (no --keep given).
inline constexpr uint16_t kKeepUnchanged = 0xffff;
inline constexpr uint16_t kMaxKeepGenerations = 1000;

// PROTOCOL.md §4.18 ROLLBACK: to_kind, which earlier state the target
// returns to (the values of RollbackTo::Kind, common/rollback_to.h); a
// higher value is malformed. ROLLBACK_DONE's report is a text (kMaxTextBytes).
enum class RollbackToKind : uint8_t { kInterrupted = 0, kRunsBack = 1, kTime = 2 };
inline constexpr uint8_t kMaxRollbackToKind = 2;

// PROTOCOL.md §4.15: lanes. The token proves a lane connection comes from
// the client that received LANES; a segment is one piece of the striped
// source stream.
inline constexpr size_t kLaneTokenBytes = 16;
inline constexpr uint16_t kMaxLanes = 64;
inline constexpr uint32_t kMaxLaneSegment = 1u << 20;
inline constexpr size_t kLanePreambleBytes = kLaneTokenBytes + 4;

// PROTOCOL.md §6: --verify compares SHA-256 digests of fixed regions, so a
// mismatch can be located; the whole-image digest closes the exchange.
inline constexpr uint64_t kVerifyRegionBytes = 64ull << 20;
inline constexpr uint32_t kVerifyDigestsPerFrame = 1024;

// PROTOCOL.md §4 OPEN: zstd levels accepted for --compress (0 = off).
inline constexpr uint8_t kMaxCompressLevel = 19;

// PROTOCOL.md §4.2 OPEN_OK flags, only with kFeatureSourceFacts.
enum OpenOkFlag : uint16_t {
  kOpenOkSourceLive = 1u << 0,  // pull: the source is a block device in use for writing
};
// Bits 4-7 of OPEN_OK flags: why a checkpoint found beside the target was
// not resumed from (0: none was, or one was used).
enum class CheckpointIgnored : uint8_t {
  kNone = 0,
  kRestart = 1,        // --restart
  kUnreadable = 2,     // torn, corrupt, or not a regular file
  kOtherSource = 3,    // the source, its size, the block size or hash differ
  kTargetChanged = 4,  // the target's state differs from the one recorded
  kOldFormat = 5,      // a record that does not bind the target's state
};
inline constexpr int kOpenOkIgnoredShift = 4;
inline constexpr uint16_t kOpenOkIgnoredMask = 0x00f0;
// Bits 8-11 of OPEN_OK flags, only after CHANGES (§4.19): whether the target
// confines the run to the change list, or why not.
enum class ChangesAnswer : uint8_t {
  kAccepted = 0,        // the target hashes only the listed blocks
  kNoBase = 1,          // CHANGES named no base run: a full comparison starts the tracker
  kNoCompletedRun = 2,  // no completed run is recorded (the first, or the last did not complete)
  kOtherRun = 3,        // the recorded run is not the base named
  kTargetChanged = 4,   // the target changed since that run
  kOtherShape = 5,      // the source, its size, the block size or hash differ from that run's
  kResuming = 6,        // an interrupted run is resumed from its checkpoint
};
inline constexpr uint8_t kMaxChangesAnswer = 6;
inline constexpr int kOpenOkChangesShift = 8;
inline constexpr uint16_t kOpenOkChangesMask = 0x0f00;
inline constexpr uint16_t kOpenOkKnownFlags = kOpenOkSourceLive | kOpenOkIgnoredMask | kOpenOkChangesMask;

// PROTOCOL.md §4 OPEN_OK: what the server found at the path.
enum class DeviceKind : uint8_t { kRegularFile = 1, kBlockDevice = 2 };
enum class TargetState : uint8_t { kExisting = 0, kCreated = 1, kMissingDryRun = 2 };

// PROTOCOL.md §4: block size limits (power of two).
inline constexpr uint32_t kMinBlockSize = 4096;
inline constexpr uint32_t kMaxBlockSize = 4u << 20;

// PROTOCOL.md §4 SUMMARY: how the target zeroed ranges.
enum class ZeroMethod : uint8_t {
  kNone = 0,
  kPunchHole = 1,
  kZeroRange = 2,
  kBlkZeroOut = 3,
  kWriteZeros = 4,
};

// PROTOCOL.md §5: ERROR codes (equal to the exit codes in README).
enum class ErrorCode : uint16_t {
  kInternal = 1,
  kUsage = 2,
  kSource = 3,
  kTarget = 4,
  kConnection = 5,
  kProtocol = 6,
  kVerify = 7,
  kInterrupted = 8,
};

}  // namespace sparsync::proto
