// LaneChannels: the client's end of lanes (PROTOCOL.md §4.15), driven by the
// ChannelPump thread, which alone touches the SSH session. It opens N
// direct-streamlocal channels to the server's lane socket (all at once, so
// opening costs one round trip, not N), sends each its preamble, then cuts
// what the engines write to its local socket into segments and deals them
// out round-robin. Each channel has its own SSH window, so N lanes carry N
// windows per round trip.
// Thread-safety: the pump thread only.
#pragma once

#include <libssh/libssh.h>

#include <vector>

#include "common/proto/messages.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "transport/byte_queue.h"

namespace sparsync {

class LaneChannels {
 public:
  LaneChannels(ssh_session session, std::string host) : session_(session), host_(std::move(host)) {}
  ~LaneChannels();
  LaneChannels(const LaneChannels&) = delete;
  LaneChannels& operator=(const LaneChannels&) = delete;

  // Opens `count` channels to offer.path and sends their preambles; on
  // success, `local` is the pump's end of the socket the engines write to.
  // Any channel refused (sshd's AllowStreamLocalForwarding, an authorized
  // key's `restrict`) fails the whole set, and the caller stays on one channel.
  Status open(const proto::Lanes& offer, uint16_t count, UniqueFd local);

  bool active() const { return !channels_.empty(); }
  // Moves what it can: local socket -> segments -> channels, within each
  // channel's window. Returns whether anything moved.
  Result<bool> pump();
  // POLLIN on the local socket while the next lane has room.
  short local_events() const;
  int local_fd() const { return local_.get(); }
  // The pump is ending: closing the local end makes the engines' writes
  // fail with EPIPE instead of blocking on lanes nobody drains.
  void close_local() { local_.reset(); }
  // The engines closed their end and everything went out (or the far side
  // closed the lanes, which drops what was left): EOF has been sent.
  bool finished() const { return eof_sent_; }

 private:
  struct Lane {
    ssh_channel channel = nullptr;
    ByteQueue queue;  // segments not yet written
  };
  bool next_has_room() const;
  Status write_lanes(bool* moved);
  void close_all();

  ssh_session session_;
  std::string host_;
  std::vector<Lane> channels_;
  UniqueFd local_;
  size_t next_ = 0;  // the lane that gets the next segment
  bool local_eof_ = false;
  bool eof_sent_ = false;
  std::vector<char> segment_;
};

}  // namespace sparsync
