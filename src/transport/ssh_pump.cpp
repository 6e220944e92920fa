#include "transport/ssh_pump.h"

#include <libssh/server.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <vector>

#include "common/byte_buffer.h"
#include "common/log.h"
#include "common/printable.h"
#include "transport/ssh_output.h"

namespace sparsync {
namespace {

// Big transfers keep the SSH window full; the caps bound memory per direction.
constexpr size_t kChunk = size_t{256} * 1024;
// How long the far side's last stderr bytes are waited for after the
// session's stream ended (a far side that closes the channel ends it sooner).
constexpr int kStderrDrainMs = 1000;
constexpr size_t kCap = size_t{1024} * 1024;
// libssh grants the far side a receive window of about 1.25 MB and tops it up
// past that only when a read asks for more than is buffered plus the window
// (libssh 0.10 channels.c, ssh_channel_read_timeout). At 50 ms that caps what
// flows toward us (a pull's data, a push's hashes) at ~25 MB/s. So every
// kGrowEvery bytes one read asks for kReadWindow bytes, which keeps about
// that much granted; the buffer it reads into must hold kReadWindow bytes,
// since libssh copies out min(count, buffered) and buffered stays within the
// window. Between those reads, plain reads of kChunk send no window adjust.
constexpr uint32_t kReadWindow = 8u << 20;
constexpr uint64_t kGrowEvery = kReadWindow / 2;
// Held stderr is for diagnosis (a shell's complaint, a sudo prompt): a line or two.
constexpr size_t kHeldCap = size_t{64} * 1024;

}  // namespace

std::string far_stderr_line(const std::string& host, std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return host + ": " + printable(line);
}

size_t split_far_stderr(std::string_view text, bool flush, const std::function<void(std::string_view)>& emit) {
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = std::min(nl, start + kFarStderrLineCap);  // npos: no newline yet
    if (end > text.size()) {
      if (!flush) break;
      end = text.size();
    }
    emit(text.substr(start, end - start));
    start = end == nl ? end + 1 : end;
  }
  return start;
}

ChannelPump::ChannelPump(ssh_session session, ssh_channel channel, UniqueFd local, std::string host,
                         int keepalive_seconds, long io_timeout_seconds, SessionShare* share)
    : session_(session),
      channel_(channel),
      share_(share != nullptr ? share : &own_share_),
      local_(std::move(local)),
      host_(std::move(host)),
      keepalive_seconds_(keepalive_seconds),
      io_timeout_seconds_(io_timeout_seconds) {}

ChannelPump::~ChannelPump() {
  stop();
  if (!joined_) join();
}

Status ChannelPump::start() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return errno_status(ErrorKind::kInternal, "pipe", errno);
  wake_read_.reset(p[0]);
  wake_write_.reset(p[1]);
  int flags = ::fcntl(local_.get(), F_GETFL);
  ::fcntl(local_.get(), F_SETFL, flags | O_NONBLOCK);
  joined_ = false;
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void ChannelPump::stop() {
  stop_.store(true);
  if (wake_write_.valid()) {
    char c = 1;
    ssize_t ignored = ::write(wake_write_.get(), &c, 1);
    (void)ignored;
  }
}

PumpResult ChannelPump::join() {
  if (!joined_) {
    thread_.join();
    joined_ = true;
  }
  return result_;
}

Status ChannelPump::open_lanes(const proto::Lanes& offer, uint16_t count, UniqueFd local) {
  LaneRequest request{offer, count, std::move(local), false, Status::ok()};
  std::unique_lock<std::mutex> lock(lanes_mu_);
  if (pump_ended_) return Status(ErrorKind::kConnection, "the connection to " + host_ + " has ended");
  lane_request_ = &request;
  lane_request_waiting_.store(true);
  char c = 1;
  ssize_t ignored = ::write(wake_write_.get(), &c, 1);
  (void)ignored;
  lanes_cv_.wait(lock, [&] { return request.done || pump_ended_; });
  lane_request_ = nullptr;
  lane_request_waiting_.store(false);
  if (!request.done) return Status(ErrorKind::kConnection, "the connection to " + host_ + " has ended");
  return request.status;
}

void ChannelPump::serve_lane_request() {
  std::lock_guard<std::mutex> lock(lanes_mu_);
  LaneRequest* r = lane_request_;
  if (r == nullptr || r->done) return;
  if (lanes_ != nullptr) {
    r->status = Status(ErrorKind::kInternal, "lanes are already open");
  } else {
    lanes_ = std::make_unique<LaneChannels>(session_, host_);
    r->status = lanes_->open(r->offer, r->count, std::move(r->local));
    if (!r->status.is_ok()) lanes_.reset();
  }
  r->done = true;
  lanes_cv_.notify_all();
}

void ChannelPump::end_lane_requests() {
  std::lock_guard<std::mutex> lock(lanes_mu_);
  pump_ended_ = true;
  lanes_cv_.notify_all();
}

void ChannelPump::run() {
  // Non-blocking throughout: a channel write within its window then never
  // waits for the socket to drain (with lanes, up to N windows can be
  // queued behind a stalled link), so keepalives still go out and see the
  // link is gone. Output libssh could not send yet goes as the socket allows.
  // (Each turn sets it again: a sibling channel's pump may have ended.)
  result_.status = loop();
  // After a failure the link may be gone: take only what libssh holds.
  drain_far_stderr(result_.status.is_ok() ? kStderrDrainMs : 0);
  {
    std::lock_guard<std::recursive_mutex> session(share_->mu);
    // Lanes end with the pump, on its thread, while it holds the session.
    if (lanes_ != nullptr) lanes_->close_local();
    lanes_.reset();
    // Blocking: the exit status may still be on its way, and is waited for
    // (within the session's timeout).
    ssh_set_blocking(session_, 1);
    if (result_.status.is_ok()) result_.exit_status = ssh_channel_get_exit_status(channel_);
  }
  end_lane_requests();
  relay_stderr(nullptr, 0, true);
  // Closing our end tells the engines the stream is over: reads see EOF
  // after what is buffered, writes fail with EPIPE instead of blocking.
  local_.reset();
}

// The session's stream can end before the far side's last stderr bytes have
// arrived (its stdout closed first, or our engine stopped at its EOF), and
// they can arrive in the same read as the channel's close, after the loop
// last looked: take them until the far side closes the channel, for at
// most `wait_ms`, so its last words (often the reason it stopped) are shown.
void ChannelPump::drain_far_stderr(int wait_ms) {
  std::vector<char> rest(kChunk);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    int n = 0;
    bool closed = false;
    socket_t fd = SSH_INVALID_SOCKET;
    {
      std::lock_guard<std::recursive_mutex> session(share_->mu);
      ssh_set_blocking(session_, 0);
      n = ssh_channel_read_nonblocking(channel_, rest.data(), static_cast<uint32_t>(rest.size()), 1);
      closed = ssh_channel_is_closed(channel_) != 0;
      fd = ssh_get_fd(session_);
    }
    if (n > 0) {
      relay_stderr(rest.data(), static_cast<size_t>(n), false);
      continue;
    }
    if (n < 0 || closed || std::chrono::steady_clock::now() >= until) return;
    pollfd p{fd, POLLIN, 0};
    (void)::poll(&p, 1, share_->open_channels.load() > 1 ? 10 : 50);
  }
}

void ChannelPump::hold_stderr() {
  std::lock_guard<std::mutex> lock(stderr_mu_);
  holding_ = true;
}

void ChannelPump::release_stderr() {
  std::lock_guard<std::mutex> lock(stderr_mu_);
  holding_ = false;
  std::string held;
  held.swap(held_);
  // Once the pump has ended nothing follows: a last line without a newline goes out too.
  write_stderr_lines(held.data(), held.size(), joined_);
}

std::string ChannelPump::held_stderr() {
  std::lock_guard<std::mutex> lock(stderr_mu_);
  return held_;
}

void ChannelPump::relay_stderr(const char* data, size_t len, bool flush) {
  std::lock_guard<std::mutex> lock(stderr_mu_);
  if (holding_ && held_.size() + len <= kHeldCap) {
    held_.append(data != nullptr ? data : "", len);
    return;
  }
  // More than a shell's "command not found": the far side is talking, and
  // its words are shown rather than cut at the cap.
  if (holding_) {
    holding_ = false;
    std::string held;
    held.swap(held_);
    write_stderr_lines(held.data(), held.size(), false);
  }
  write_stderr_lines(data, len, flush);
}

// Through log, so a line never lands in the middle of a live progress line.
void ChannelPump::write_stderr_lines(const char* data, size_t len, bool flush) {
  stderr_partial_.append(data != nullptr ? data : "", len);
  size_t used = split_far_stderr(stderr_partial_, flush,
                                 [this](std::string_view line) { log::error(far_stderr_line(host_, line)); });
  stderr_partial_.erase(0, used);
}

// A read that never waits (the pump polls), up to `count` bytes into `dest`
// (which must hold `count`). 0: nothing now, or the far side's EOF.
int ChannelPump::read_stdout(uint8_t* dest, uint32_t count) {
  int n = ssh_channel_read_timeout(channel_, dest, count, 0, 0);
  return n == SSH_AGAIN ? 0 : n;
}

// Like ssh's ServerAliveInterval: a request the far sshd must answer. libssh
// waits for the answer inside ssh_send_keepalive but does not say whether one
// came, so the wait is bounded by a short session timeout and a wait that
// used it all up means no answer: the link or the far sshd is gone, even if
// TCP still acknowledges (a hung middlebox, a frozen host).
Status ChannelPump::keepalive() {
  long probe_timeout = 3L * keepalive_seconds_;
  ssh_options_set(session_, SSH_OPTIONS_TIMEOUT, &probe_timeout);
  ssh_set_blocking(session_, 1);  // to wait for the answer
  auto start = std::chrono::steady_clock::now();
  int rc = ssh_send_keepalive(session_);
  auto waited = std::chrono::steady_clock::now() - start;
  ssh_set_blocking(session_, 0);
  ssh_options_set(session_, SSH_OPTIONS_TIMEOUT, &io_timeout_seconds_);
  // A probe libssh could not send, or whose wait ended in a fatal session
  // error, counts as unanswered too. (With lanes, several windows of data
  // can sit unacknowledged behind a stalled link, and the socket's
  // TCP_USER_TIMEOUT may end the session first: that error is reported.)
  bool dead = rc != SSH_OK || ssh_is_connected(session_) == 0 || ssh_get_error_code(session_) == SSH_FATAL;
  if (dead || waited >= std::chrono::seconds(probe_timeout)) {
    return Status(ErrorKind::kConnection, "lost the connection to " + host_ + ": no answer to keepalives for " +
                                              std::to_string(probe_timeout) + " s");
  }
  return Status::ok();
}

// What the loop carries from one turn to the next, and what one turn learned.
struct ChannelPump::LoopState {
  using Clock = std::chrono::steady_clock;
  LoopState() : to_local(kCap), to_remote(kCap), scratch(kChunk), inbound(kReadWindow) {}

  ByteQueue to_local;         // far side's stdout, on its way to the engines
  ByteQueue to_remote;        // the engines' output, on its way to the far side
  std::vector<char> scratch;  // far stderr and local reads pass through here
  ByteBuffer inbound;         // far stdout reads; not zero-filled: pages count only once used
  // Start by asking for the big window, so a pull runs at full speed at once.
  uint64_t received_since_grow = kGrowEvery;
  bool remote_eof = false;                        // the far side's stdout ended (EOF, or the channel closed)
  bool local_eof = false;                         // the engines' output ended (or broke)
  bool eof_sent = false;                          // our EOF went to the channel (or could not, it was closed)
  bool local_write_shut = false;                  // the engines were told the far side's stdout ended
  bool local_gone = false;                        // the engines stopped reading: drop what the far side sends
  Clock::time_point last_traffic = Clock::now();  // with the far side, for keepalives

  // This turn only. The channel's closed state is sampled once, before writing
  // to it, so the write, the EOF and the finish check agree.
  bool moved = false;
  bool channel_closed = false;

  void note_traffic() {
    moved = true;
    last_traffic = Clock::now();
  }
};

// One turn moves what it can in every direction without waiting; only a
// turn that moved nothing waits (poll) and, on a quiet link, probes it.
Status ChannelPump::loop() {
  LoopState st;
  while (!stop_.load()) {
    bool done = false;
    SPARSYNC_RETURN_IF_ERROR(turn(st, &done));
    if (done) return Status::ok();
    if (st.moved) continue;
    SPARSYNC_RETURN_IF_ERROR(wait_for_io(st));
    std::lock_guard<std::recursive_mutex> session(share_->mu);
    SPARSYNC_RETURN_IF_ERROR(keepalive_if_quiet(st));
  }
  return Status(ErrorKind::kInterrupted, "transfer to " + host_ + " stopped");
}

Status ChannelPump::turn(LoopState& st, bool* done) {
  std::lock_guard<std::recursive_mutex> session(share_->mu);
  ssh_set_blocking(session_, 0);
  if (lane_request_waiting_.load()) serve_lane_request();
  st.moved = false;
  read_far_stderr(st);
  SPARSYNC_RETURN_IF_ERROR(read_far_stdout(st));
  if (st.moved) st.last_traffic = LoopState::Clock::now();
  write_to_engines(st);
  shut_engines_input_at_far_eof(st);
  read_from_engines(st);
  st.channel_closed = ssh_channel_is_closed(channel_) != 0;
  SPARSYNC_RETURN_IF_ERROR(write_to_far_side(st));
  SPARSYNC_RETURN_IF_ERROR(pump_lanes(st));
  send_eof_at_local_eof(st);
  if (finished(st)) {
    *done = true;
    return Status::ok();
  }
  return flush_session_output();
}

Status ChannelPump::lost(const char* what) const {
  const char* detail = ssh_get_error(session_);
  return Status(ErrorKind::kConnection, "lost the connection to " + host_ + " while " + what + ": " +
                                            (detail != nullptr && *detail ? detail : "channel error"));
}

// Far side -> us, stderr first: libssh reports EOF only once stdout and
// stderr are both drained.
void ChannelPump::read_far_stderr(LoopState& st) {
  int n = ssh_channel_read_nonblocking(channel_, st.scratch.data(), static_cast<uint32_t>(st.scratch.size()), 1);
  if (n > 0) {
    relay_stderr(st.scratch.data(), static_cast<size_t>(n), false);
    st.moved = true;
  }
}

// Far side's stdout -> to_local, asking for the big window every kGrowEvery bytes.
Status ChannelPump::read_far_stdout(LoopState& st) {
  if (st.remote_eof || st.to_local.room() == 0) return Status::ok();
  bool grow = st.received_since_grow >= kGrowEvery;
  uint32_t want = grow ? kReadWindow : static_cast<uint32_t>(std::min(st.to_local.room(), kChunk));
  int n = read_stdout(st.inbound.data(), want);
  if (grow) st.received_since_grow = 0;
  if (n > 0) {
    st.received_since_grow += static_cast<uint64_t>(n);
    if (!st.local_gone) st.to_local.append(reinterpret_cast<const char*>(st.inbound.data()), static_cast<size_t>(n));
    st.moved = true;
  } else if (n == SSH_EOF || (n == 0 && ssh_channel_is_eof(channel_) != 0)) {
    st.remote_eof = true;
    st.moved = true;
  } else if (n < 0) {
    // A channel the far side closed reads as an error, not as EOF.
    if (ssh_channel_is_closed(channel_) == 0) return lost("reading");
    st.remote_eof = true;
    st.moved = true;
  }
  return Status::ok();
}

// to_local -> engines. Engines that stopped reading get nothing more.
void ChannelPump::write_to_engines(LoopState& st) {
  while (!st.to_local.empty()) {
    ssize_t w = ::send(local_.get(), st.to_local.data(), st.to_local.size(), MSG_NOSIGNAL);
    if (w > 0) {
      st.to_local.consume(static_cast<size_t>(w));
      st.moved = true;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      st.local_gone = true;
      st.to_local.clear();
    }
    return;
  }
}

// Once all the far side said is passed on, the engines read EOF.
void ChannelPump::shut_engines_input_at_far_eof(LoopState& st) {
  if (st.remote_eof && st.to_local.empty() && !st.local_write_shut) {
    ::shutdown(local_.get(), SHUT_WR);
    st.local_write_shut = true;
  }
}

// Engines -> to_remote, until it is full or the engines have nothing more now.
void ChannelPump::read_from_engines(LoopState& st) {
  while (!st.local_eof && st.to_remote.room() > 0) {
    size_t want = st.to_remote.room() < kChunk ? st.to_remote.room() : kChunk;
    ssize_t r = ::recv(local_.get(), st.scratch.data(), want, 0);
    if (r > 0) {
      st.to_remote.append(st.scratch.data(), static_cast<size_t>(r));
      st.moved = true;
      if (static_cast<size_t>(r) < want) return;
    } else if (r == 0) {
      st.local_eof = true;
      st.moved = true;
    } else {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) st.local_eof = true;
      return;
    }
  }
}

// to_remote -> far side (transport/ssh_output.h says within what). A closed
// channel cannot hear it: dropped.
Status ChannelPump::write_to_far_side(LoopState& st) {
  if (st.channel_closed) {
    st.to_remote.clear();
    return Status::ok();
  }
  long wrote = write_within_window(session_, channel_, st.to_remote, kChunk);
  if (wrote < 0) return lost("writing");
  if (wrote > 0) st.note_traffic();
  return Status::ok();
}

Status ChannelPump::pump_lanes(LoopState& st) {
  if (lanes_ == nullptr) return Status::ok();
  auto moved = lanes_->pump();
  if (!moved.is_ok()) return moved.status();
  if (moved.value()) st.note_traffic();
  return Status::ok();
}

// The engines said all they will and it all went out: the far side reads EOF.
void ChannelPump::send_eof_at_local_eof(LoopState& st) {
  if (st.local_eof && st.to_remote.empty() && !st.eof_sent) {
    if (!st.channel_closed) (void)ssh_channel_send_eof(channel_);
    st.eof_sent = true;
    st.moved = true;
  }
}

// Done when the far side has said all it will and we have passed it on,
// and either we said all we will or it cannot hear us any more.
bool ChannelPump::finished(const LoopState& st) const {
  bool lanes_done = lanes_ == nullptr || lanes_->finished() || st.channel_closed;
  return st.remote_eof && st.to_local.empty() && (st.eof_sent || st.channel_closed) && lanes_done;
}

bool ChannelPump::session_write_pending() const { return (ssh_get_poll_flags(session_) & SSH_WRITE_PENDING) != 0; }

// Pushes out what libssh still holds; never waits.
Status ChannelPump::flush_session_output() {
  if (session_write_pending() && ssh_blocking_flush(session_, 0) == SSH_ERROR) return lost("writing");
  return Status::ok();
}

// Waits up to a second for any side to be ready, or for the wake pipe
// (stop() or a lane request).
Status ChannelPump::wait_for_io(const LoopState& st) {
  enum : nfds_t { kLocal, kSession, kWake, kLanes };
  pollfd fds[4];
  nfds_t count = 0;
  short local_events = 0;
  if (!st.local_eof && st.to_remote.room() > 0) local_events |= POLLIN;
  if (!st.to_local.empty()) local_events |= POLLOUT;
  fds[count++] = pollfd{local_.get(), local_events, 0};
  {
    std::lock_guard<std::recursive_mutex> session(share_->mu);
    fds[count++] =
        pollfd{ssh_get_fd(session_), static_cast<short>(POLLIN | (session_write_pending() ? POLLOUT : 0)), 0};
  }
  fds[count++] = pollfd{wake_read_.get(), POLLIN, 0};
  if (lanes_ != nullptr && lanes_->local_events() != 0) {
    fds[count++] = pollfd{lanes_->local_fd(), lanes_->local_events(), 0};
  }
  // A sibling channel's pump may have read our packets off the socket.
  int rc = ::poll(fds, count, share_->open_channels.load() > 1 ? 10 : 1000);
  if (rc < 0 && errno != EINTR) return errno_status(ErrorKind::kInternal, "poll", errno);
  if ((fds[kWake].revents & POLLIN) != 0) {
    char drain[64];
    while (::read(wake_read_.get(), drain, sizeof(drain)) > 0) {
    }
  }
  if ((fds[kSession].revents & (POLLERR | POLLNVAL)) != 0) {
    std::lock_guard<std::recursive_mutex> session(share_->mu);
    return lost("waiting");
  }
  return Status::ok();
}

Status ChannelPump::keepalive_if_quiet(LoopState& st) {
  bool quiet =
      keepalive_seconds_ > 0 && LoopState::Clock::now() - st.last_traffic > std::chrono::seconds(keepalive_seconds_);
  if (!quiet) return Status::ok();
  SPARSYNC_RETURN_IF_ERROR(keepalive());
  st.last_traffic = LoopState::Clock::now();
  return Status::ok();
}

}  // namespace sparsync
