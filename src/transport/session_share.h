// SessionShare: what lets several exec channels of one libssh session run
// at once, each driven by its own ChannelPump thread (a job's syncs to one
// far host, transport/ssh_connection_pool.h). libssh is safe when one thread
// at a time uses a session, so every call on the session, from a pump's
// turn or from the owner opening or closing a channel, holds `mu`. A pump
// that reads the socket also takes in the packets of its sibling channels,
// which then wait in libssh's buffers with no byte left on the socket to
// wake their pumps; so while more than one channel is open, pumps poll with
// a short timeout (`open_channels` counts them).
// Thread-safety: that is its purpose.
#pragma once

#include <atomic>
#include <mutex>

namespace sparsync {

struct SessionShare {
  std::recursive_mutex mu;
  std::atomic<int> open_channels{0};
};

}  // namespace sparsync
