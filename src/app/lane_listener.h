// LaneListener: the server's end of lanes (PROTOCOL.md §4.15). A push over
// one SSH channel runs at most one channel window per round trip (sshd's is
// 2 MiB: ~40 MB/s at 50 ms), so the client may open more channels, as
// direct-streamlocal forwards to a Unix socket this listener owns. The
// socket lives in a fresh 0700 directory, so only this user (and root) can
// reach it, and each lane must present the random token sent in LANES.
// Thread-safety: one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/messages.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace sparsync {

class LaneListener {
 public:
  // Makes the directory and the listening socket, and draws the token.
  static Result<std::unique_ptr<LaneListener>> create();
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
  void remove();

  std::string dir_;
  UniqueFd listener_;
  proto::Lanes offer_;
};

}  // namespace sparsync
