// One --changes mode's part of a tracker (app/change_tracker.h): how it
// opens the source, finds the change list since the run its state names,
// and moves on once a run completed. Implemented in change_mode_*.cpp.
// Thread-safety: one thread.
#pragma once

#include <memory>
#include <string>

#include "app/change_state.h"
#include "app/sync_request.h"
#include "common/change_list.h"
#include "common/device.h"
#include "source/source_session.h"

namespace sparsync {

class ChangeModeImpl {
 public:
  virtual ~ChangeModeImpl() = default;
  virtual Result<std::unique_ptr<Device>> open_source(const SyncRequest& request) = 0;
  // The source's identity as far as it holds from run to run ("" for none:
  // then no list is ever used).
  virtual std::string stable_identity(const Device& source) const;
  // With `state` the last completed run's (null: none, or not usable):
  // the changes since it into *list; false with *why when this run must
  // compare in full. Also gets ready to record this run (digests).
  virtual bool find_changes(const ChangeState* state, const Device& source, const SessionParams& params,
                            const proto::ChangeToken& run_token, ChangeList* list, std::string* why) = 0;
  // The source session's options: `used` when the target accepted the list.
  virtual void options(bool used, const ChangeList& list, SourceSessionOptions* options) = 0;
  // After a completed run (source closed); fills the mode's fields of the
  // next state. False when this run leaves nothing to start from.
  virtual Status commit(bool used, ChangeState* next, bool* usable) = 0;
  virtual void abandon() {}
  // Before the session starts (the SSH login takes a while): with `state`
  // usable for this source and shape, work that needs no target may start
  // here, on a thread of the tracker's; find_changes() comes after it ends.
  virtual bool scans_early() const { return false; }
  // Source bytes read before the session for the list the run used.
  virtual uint64_t early_bytes_read() const { return 0; }
  virtual void scan_early(const ChangeState&, Device&, const SessionParams&, const proto::ChangeToken&) {}
};

std::unique_ptr<ChangeModeImpl> make_digest_mode(const std::string& stem);
std::unique_ptr<ChangeModeImpl> make_bitmap_mode(const std::string& bitmap, const std::string& stem);
std::unique_ptr<ChangeModeImpl> make_reflink_mode(const std::string& stem);

}  // namespace sparsync
