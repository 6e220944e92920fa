// LaneListener: the server's end of lanes (PROTOCOL.md §4.15). A push over
// one SSH channel runs at most one channel window per round trip (sshd's is
// 2 MiB: ~40 MB/s at 50 ms), so the client may open more channels, as
// direct-streamlocal forwards to a Unix socket this listener owns. The
// socket lives in a fresh 0700 directory, so only this user (and root) can
// reach it, and each lane must present the random token sent in LANES.
// Under `--sudo` the forwards are made by the login user's sshd, not by
// root, so the directory and socket are handed to the user sudo ran us for.
// That user may then rename the directory away and plant a symlink at its
// name, and the parent ($TMPDIR) may be writable by others: so after the
// directory is made, nothing is done by path. The socket is bound, handed
// over and removed relative to the directory's fd (bound through
// /proc/self/fd), and the directory removed from the parent's fd only if
// the name still holds it.
// Thread-safety: one thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/proto/messages.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace sparsync {

// Who may reach the lane socket besides this process's own user.
struct LaneOwner {
  uid_t uid;
  gid_t gid;
};

// The user who ran us through sudo (SUDO_UID/SUDO_GID, which sudo sets),
// when this process runs as someone else; nullopt otherwise.
std::optional<LaneOwner> sudo_caller();

class LaneListener {
 public:
  // Makes the directory and the listening socket, and draws the token. With
  // `owner`, the directory (still 0700) and the socket become that user's,
  // so only that user's sshd (and root) can reach them.
  static Result<std::unique_ptr<LaneListener>> create(std::optional<LaneOwner> owner = std::nullopt);
  ~LaneListener();
  LaneListener(const LaneListener&) = delete;
  LaneListener& operator=(const LaneListener&) = delete;

  // What LANES tells the client.
  const proto::Lanes& offer() const { return offer_; }

  // Accepts lanes until `count` have presented the token with distinct
  // indexes, or `seconds` pass; returns them in index order. A connection
  // with the wrong token is dropped and does not count. The socket and its
  // directory are removed before this returns, whatever the outcome.
  Result<std::vector<UniqueFd>> accept_lanes(uint16_t count, double seconds);

 private:
  LaneListener() = default;
  Status make_directory(const std::string& parent);
  void remove();

  UniqueFd parent_fd_;  // the directory the lane directory was made in
  UniqueFd dir_fd_;     // the lane directory itself
  std::string name_;    // its name in the parent; empty once removed
  UniqueFd listener_;
  proto::Lanes offer_;
};

}  // namespace sparsync
