// --changes: the source side of a push that confines its comparison to what
// changed since the last completed run (docs/change-tracking.md, PROTOCOL.md
// §4.19). One tracker serves one sync, across its retries:
//   open_source  the source as the mode reads it (reflink: this run's copy;
//                bitmap: through qemu-nbd or the export, with the bitmap)
//   plan         this run's token and change list, or a full comparison and
//                the one line saying why (no earlier run, the source or its
//                shape changed, --full-every, the tracker's own state lost)
//   answered     the target's answer in OPEN_OK: the list is used only when
//                the target proved itself the result of the base run
//   commit       after the target confirmed the run durable: the tracker
//                moves on (bitmap rotated, reference kept, digests stored)
//                and the state names this run; never before
// Anything it cannot prove falls back to the full comparison.
// Thread-safety: one thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "app/change_state.h"
#include "app/cli.h"
#include "app/location.h"
#include "app/sync_request.h"
#include "common/change_list.h"
#include "common/device.h"
#include "common/unique_fd.h"
#include "source/source_session.h"

namespace sparsync {

// --changes MODE and --full-every N.
struct ChangesMode {
  enum class Kind { kNone, kDigest, kBitmap, kReflink };
  Kind kind = Kind::kNone;
  std::string bitmap;       // kBitmap: the bitmap's name
  uint32_t full_every = 0;  // a full comparison every N runs; 0 never
  std::string text() const;
};

// Parses "digest", "bitmap:NAME", "reflink"; kUsage with a line otherwise.
Result<ChangesMode> parse_changes_mode(const std::string& text);
// --changes and --full-every of `options`, checked against the request
// (a push from a source this host can read again); kNone without them.
Status changes_mode_from(const CliOptions& options, const SyncRequest& request, ChangesMode* mode);
// Where the target is, as the tracker's state names it.
std::string change_target_key(const SyncRequest& request, const RemoteSide& remote);

// How one mode finds its change list and moves on; defined per mode.
class ChangeModeImpl;

class ChangeTracker {
 public:
  ~ChangeTracker();
  // `target_key` names where the target is ("host:path", "local:path").
  static Result<std::unique_ptr<ChangeTracker>> create(const ChangesMode& mode, const SyncRequest& request,
                                                       const std::string& target_key);

  // Starts what the mode can do before the far side is reached (digest:
  // the whole comparison, while SSH logs in); plan() waits for it.
  void start_early(const SyncRequest& request);
  Result<std::unique_ptr<Device>> open_source(const SyncRequest& request);
  Status plan(const Device& source, const SessionParams& params, bool dry_run);
  const proto::ChangeToken& run_token() const { return run_token_; }
  const proto::ChangeToken& base_token() const { return base_token_; }
  const ChangeList& list() const { return list_; }
  // The target's answer; nullopt when the far side cannot take a change
  // list (an older sparsync). Fills the source session's options.
  void answered(std::optional<proto::ChangesAnswer> answer, SourceSessionOptions* options);
  // After a completed run, with its source closed.
  Status commit();
  // After a failed one.
  void abandon();

  // For the summary and JSON: the mode when its list was used, else "full".
  std::string change_source() const;
  const std::string& fallback_reason() const { return fallback_reason_; }
  // Source bytes read before the session (a pre-scan), for the run's figures.
  uint64_t early_bytes_read() const;

 private:
  ChangeTracker() = default;
  void fall_back(const std::string& why);
  // The state, when a list may start from it for this source and shape;
  // else null and *why.
  const ChangeState* usable_state(const std::string& identity, const SessionParams& params, std::string* why) const;

  ChangesMode mode_;
  std::string stem_;
  std::string target_key_;
  std::optional<ChangeState> state_;
  std::string no_state_reason_;
  std::unique_ptr<ChangeModeImpl> impl_;
  proto::ChangeToken run_token_{};
  proto::ChangeToken base_token_{};
  ChangeList list_;
  SessionParams params_;
  std::string source_identity_;
  bool dry_run_ = false;
  bool used_ = false;  // the target accepted the list
  bool planned_ = false;
  bool sent_ = false;  // the far side took the CHANGES (and records this run)
  std::string fallback_reason_;
  std::thread early_;
  UniqueFd lock_;  // flock(LOCK_EX) on "<stem>.lock" for the tracker's life
};

}  // namespace sparsync
