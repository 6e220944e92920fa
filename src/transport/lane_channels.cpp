#include "transport/lane_channels.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "transport/lane_reader.h"
#include "transport/ssh_output.h"

namespace sparsync {
namespace {

// A segment is what one recv returns, up to this much: big enough that the
// 4-byte headers cost nothing, small enough that every lane gets work.
constexpr size_t kSegment = size_t{256} * 1024;
// Largest single channel write, as for the main channel.
constexpr size_t kWriteChunk = size_t{256} * 1024;
// Opening waits at most this long for sshd's answers.
constexpr auto kOpenTimeout = std::chrono::seconds(30);

}  // namespace

LaneChannels::~LaneChannels() { close_all(); }

void LaneChannels::close_all() {
  for (Lane& lane : channels_) {
    if (lane.channel == nullptr) continue;
    // Only an open channel may be closed: a CLOSE for one sshd refused would
    // carry a remote id it never assigned (0, the main channel's) and end it.
    if (ssh_channel_is_open(lane.channel) != 0) ssh_channel_close(lane.channel);
    ssh_channel_free(lane.channel);
    lane.channel = nullptr;
  }
  channels_.clear();
}

Status LaneChannels::open(const proto::Lanes& offer, uint16_t count, UniqueFd local) {
  // A lane's queue compacts once a segment has gone out of it.
  channels_.assign(count, Lane{nullptr, ByteQueue(kSegment)});
  for (Lane& lane : channels_) {
    lane.channel = ssh_channel_new(session_);
    if (lane.channel == nullptr) {
      close_all();
      return Status(ErrorKind::kInternal, "libssh could not create a channel");
    }
  }
  // Non-blocking, every open request goes out before any answer is awaited.
  int was_blocking = ssh_is_blocking(session_);
  ssh_set_blocking(session_, 0);
  auto deadline = std::chrono::steady_clock::now() + kOpenTimeout;
  std::vector<bool> open(count, false);
  Status failed;
  for (;;) {
    size_t pending = 0;
    for (uint16_t i = 0; i < count && failed.is_ok(); ++i) {
      if (open[i]) continue;
      int rc = ssh_channel_open_forward_unix(channels_[i].channel, offer.path.c_str(), "127.0.0.1", 0);
      if (rc == SSH_OK) {
        open[i] = true;
      } else if (rc == SSH_AGAIN) {
        ++pending;
      } else {
        failed = Status(ErrorKind::kConnection, "opening a lane to " + host_ + ": " + ssh_get_error(session_));
      }
    }
    if (!failed.is_ok() || pending == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      failed = Status(ErrorKind::kConnection, "opening lanes to " + host_ + ": no answer within 30 s");
      break;
    }
    pollfd p{ssh_get_fd(session_), POLLIN, 0};
    (void)::poll(&p, 1, 100);
  }
  ssh_set_blocking(session_, was_blocking);
  if (!failed.is_ok()) {
    close_all();
    return failed;
  }
  for (uint16_t i = 0; i < count; ++i) {
    std::vector<uint8_t> preamble = proto::encode(proto::LanePreamble{offer.token, i, count});
    channels_[i].queue.append(reinterpret_cast<const char*>(preamble.data()), preamble.size());
  }
  local_ = std::move(local);
  ::fcntl(local_.get(), F_SETFL, ::fcntl(local_.get(), F_GETFL) | O_NONBLOCK);
  segment_.resize(4 + kSegment);
  return Status::ok();
}

bool LaneChannels::next_has_room() const { return channels_[next_].queue.size() <= kSegment; }

short LaneChannels::local_events() const { return !local_eof_ && next_has_room() ? POLLIN : 0; }

Status LaneChannels::write_lanes(bool* moved) {
  for (Lane& lane : channels_) {
    // The far side closed this lane (the server ended): nobody reads it.
    if (ssh_channel_is_closed(lane.channel) != 0) {
      lane.queue.clear();
      continue;
    }
    long wrote = write_within_window(session_, lane.channel, lane.queue, kWriteChunk);
    if (wrote < 0) {
      const char* detail = ssh_get_error(session_);
      return Status(ErrorKind::kConnection, "lost the connection to " + host_ + " while writing a lane: " +
                                                (detail != nullptr && *detail ? detail : "channel error"));
    }
    if (wrote > 0) *moved = true;
  }
  return Status::ok();
}

Result<bool> LaneChannels::pump() {
  bool moved = false;
  while (!local_eof_ && next_has_room()) {
    ssize_t r = ::recv(local_.get(), segment_.data() + 4, kSegment, 0);
    if (r > 0) {
      encode_segment_header(static_cast<uint32_t>(r), reinterpret_cast<uint8_t*>(segment_.data()));
      channels_[next_].queue.append(segment_.data(), 4 + static_cast<size_t>(r));
      next_ = (next_ + 1) % channels_.size();
      moved = true;
    } else if (r == 0) {
      local_eof_ = true;
      moved = true;
    } else {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) local_eof_ = true;
      break;
    }
  }
  SPARSYNC_RETURN_IF_ERROR(write_lanes(&moved));
  bool drained = std::all_of(channels_.begin(), channels_.end(), [](const Lane& l) { return l.queue.empty(); });
  if (local_eof_ && drained && !eof_sent_) {
    for (Lane& lane : channels_) {
      if (ssh_channel_is_closed(lane.channel) == 0) (void)ssh_channel_send_eof(lane.channel);
    }
    eof_sent_ = true;
    moved = true;
  }
  return moved;
}

}  // namespace sparsync
