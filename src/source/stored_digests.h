// The block digests of the last completed run, kept by the source for
// `--changes digest` (docs/change-tracking.md "Stored digests"). Each run
// that compares with them writes the next file as it reads (DigestRecorder);
// the next run reads the file in step with its own reading (StoredDigests)
// and stands it in for the target's reports of the blocks the target left
// unread (HASH_SKIP, PROTOCOL.md §4.19): the target reads nothing.
//
// File: a 64-byte header ("SPSYDGST", format 1, hash kind, block size,
// image size, block count, the run's token), one digest per block in block
// order (all zero bytes: a block of zeros), and an XXH64 of everything
// before it. Both sides stream it: memory stays at one buffer whatever the
// image size. The checksum is checked before any digest is used (open()
// reads the file once: a damaged one is never a stand-in), and again as
// the run reads it (finish(), before DONE: a file changed during the run
// fails it, leaving the target resumable).
// Thread-safety: one thread per object.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/proto/change_messages.h"
#include "common/session.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace sparsync {

struct TargetRun;

struct DigestFileHeader {
  proto::HashKind hash_kind = proto::HashKind::kXxh3_128;
  uint32_t block_size = 0;
  uint64_t image_size = 0;
  proto::ChangeToken run_token{};
};

// The stored form of block `block`'s digest into `out` (hash_length bytes):
// all zero bytes for a block of zeros (`data` null: a hole).
void stored_block_digest(const SessionParams& params, uint64_t block, const uint8_t* data, uint8_t* out);

// An XXH64 over the stored digests of the blocks handed to it, in order:
// what a pre-scan saw of the blocks it listed, and what the run then read
// of them, must fingerprint alike (app/change_mode_digest.cpp).
class DigestFingerprint {
 public:
  DigestFingerprint();
  ~DigestFingerprint();
  DigestFingerprint(const DigestFingerprint&) = delete;
  DigestFingerprint& operator=(const DigestFingerprint&) = delete;
  void add_digest(const uint8_t* digest, size_t length);
  // Whole blocks from `offset` (block-aligned); `data` null for a hole.
  void add(const SessionParams& params, uint64_t offset, uint64_t length, const uint8_t* data);
  uint64_t value() const;

 private:
  XXH64_state_t* state_;
};

class DigestRecorder {
 public:
  ~DigestRecorder();
  // Creates `path` (O_EXCL, no symlink followed; a leftover is removed
  // first) for a run of `params`.
  static Result<std::unique_ptr<DigestRecorder>> create(const std::string& path, const SessionParams& params,
                                                        const proto::ChangeToken& run_token);
  // The next bytes of the image, in order from offset 0: `data` null for a
  // hole (zeros, not read).
  Status add(uint64_t offset, uint64_t length, const uint8_t* data);
  // The next block's stored digest, computed by the caller.
  Status add_digest(const uint8_t* digest);
  // Trailer and fsync; false from complete() unless every block was added.
  Status finish();
  bool complete() const { return finished_ && next_block_ == params_.total_blocks(); }
  const std::string& path() const { return path_; }

 private:
  DigestRecorder() = default;
  Status put(const uint8_t* bytes, size_t n);
  Status flush();

  std::string path_;
  UniqueFd fd_;
  SessionParams params_;
  uint64_t next_block_ = 0;
  std::vector<uint8_t> buffer_;
  XXH64_state_t* sum_ = nullptr;
  bool finished_ = false;
  bool failed_ = false;
};

class StoredDigests {
 public:
  ~StoredDigests();
  // Opens `path` and checks its header against `params`: null when there is
  // no such file, kSource when it does not match.
  static Result<std::unique_ptr<StoredDigests>> open(const std::string& path, const SessionParams& params);
  const DigestFileHeader& header() const { return header_; }
  // The stored digest of the next block into `out`; call in block order,
  // not mixed with runs().
  Status next(uint8_t* out);
  // Runs of the stored digests for blocks [first, first + count), which
  // must follow the previous call's: zero runs and digest runs, each handed
  // to `sink` in order.
  Status runs(uint64_t first, uint64_t count, const std::function<Status(TargetRun&&)>& sink);
  // Reads what is left and checks the file's checksum.
  Status finish();

 private:
  StoredDigests() = default;
  Status fill();
  Status check_whole_file(const uint8_t* header);

  std::string path_;
  UniqueFd fd_;
  DigestFileHeader header_;
  size_t digest_len_ = 16;
  uint64_t blocks_ = 0;
  uint64_t next_block_ = 0;
  std::vector<uint8_t> buffer_;
  size_t buffer_at_ = 0;
  XXH64_state_t* sum_ = nullptr;
};

}  // namespace sparsync
