// What the source side of a push keeps between runs for --changes
// (docs/change-tracking.md): one small JSON file per source and target, in
// the client's state directory ($SPARSYNC_STATE_DIR; else /var/lib/sparsync
// for root, $XDG_STATE_HOME/sparsync or ~/.local/state/sparsync for others;
// created 0700), named after a hash of the two, beside the mode's own file
// (stored digests). It names the last completed run by its token, which the
// target's synced record must name too (PROTOCOL.md §4.19), and the source
// as that run saw it. Written to a temporary and renamed.
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/proto/change_messages.h"
#include "common/status.h"

namespace sparsync {

struct ChangeState {
  std::string mode;            // "digest", "bitmap:NAME", "reflink"
  std::string source;          // the source's identity, as far as it is stable across runs
  std::string target;          // where the target is: "host:path" or "local:path"
  proto::ChangeToken token{};  // the last completed run's
  uint64_t image_size = 0;
  uint32_t block_size = 0;
  uint8_t hash_kind = 1;
  uint32_t runs_since_full = 0;  // completed runs that compared with a change list since the last full one
  std::string reference;         // reflink: the kept reference's identity (device:inode)
  // Set when the last completed run left nothing to start from, and why
  // (the next run compares in full and says so).
  std::string unusable;
};

// The state directory (created when missing) and the stem of this pair's
// files in it ("<dir>/<32 hex>"); `.json` is the state, `.digests` the
// stored digests.
Result<std::string> change_state_stem(const std::string& source, const std::string& target);

// nullopt when there is none or it cannot be read (then *why says which).
std::optional<ChangeState> load_change_state(const std::string& stem, std::string* why);
Status save_change_state(const std::string& stem, const ChangeState& state);
void remove_change_state(const std::string& stem);

std::string token_hex(const proto::ChangeToken& token);
proto::ChangeToken new_change_token();

}  // namespace sparsync
