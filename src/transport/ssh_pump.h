// ChannelPump: moves bytes between a local socket and an SSH exec channel on
// one thread of its own. libssh sessions are not thread-safe while the
// engines read and write from several threads, so the engines get the other
// end of a socketpair and this thread is the only one touching the session
// until join() returns. It also relays the channel's stderr to ours, each
// line prefixed with the host name (or holds it back while the caller
// decides whether the far command even started), sends EOF on the channel when the local
// side shuts its write half, keeps a quiet link alive, and collects the far
// command's exit status. With lanes (transport/lane_channels.h) it also
// carries a second local socket over N more channels of the same session.
// Thread-safety: start/stop/join from the owning thread; the pump thread owns
// the session in between.
#pragma once

#include <libssh/libssh.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"
#include "common/unique_fd.h"
#include "transport/lane_channels.h"
#include "transport/session_share.h"

namespace sparsync {

// One line of the far command's stderr as we print it: after the host name,
// without the CR of a CRLF ending, and escaped (common/printable.h): it is
// the far side's text, and must not move the cursor or pass for our output.
std::string far_stderr_line(const std::string& host, std::string_view line);

// A far "line" longer than this is printed in pieces of this size, so a far
// side that never ends a line cannot make us hold all it writes.
constexpr size_t kFarStderrLineCap = 4096;

// Calls `emit` for each line of `text` (newline dropped, longer lines in
// pieces of kFarStderrLineCap) and returns the bytes used; the rest is an
// unfinished line, which `flush` emits too.
size_t split_far_stderr(std::string_view text, bool flush, const std::function<void(std::string_view)>& emit);

struct PumpResult {
  Status status;         // a transport failure (lost connection), else ok
  int exit_status = -1;  // the far command's, or -1 when none arrived
};

class ChannelPump {
 public:
  // `local` is the pump's end of the socketpair; `host` prefixes stderr lines.
  // `io_timeout_seconds` is the session's timeout, restored after a
  // keepalive probe (which waits at most 3 keepalive intervals). `share`
  // (which must outlive the pump) is how it takes turns with the session's
  // other channels; null when it has the session to itself.
  ChannelPump(ssh_session session, ssh_channel channel, UniqueFd local, std::string host, int keepalive_seconds,
              long io_timeout_seconds, SessionShare* share = nullptr);
  ~ChannelPump();
  ChannelPump(const ChannelPump&) = delete;
  ChannelPump& operator=(const ChannelPump&) = delete;

  Status start();
  // Asks the thread to give up early (the run is being abandoned).
  void stop();
  // Waits for the thread: it ends once the far side has finished and the
  // local side has shut its write half (or either side broke).
  PumpResult join();

  // Stderr is held back, not relayed, until release_stderr(): while the
  // first exchange shows whether the far command started at all, a shell's
  // "command not found" is for us to read, not for the user. Past 64 KiB it
  // is relayed anyway (that much is the far side talking, and is not lost).
  void hold_stderr();
  // Relays what was held and everything after it.
  void release_stderr();
  // What is held (at most 64 KiB).
  std::string held_stderr();

  // Has the pump thread open `count` lanes to the server's socket (see
  // LaneChannels) and waits until it has; from then on it also carries
  // what is written to the other end of `local` over them.
  Status open_lanes(const proto::Lanes& offer, uint16_t count, UniqueFd local);

 private:
  void run();

  // The pump loop and the steps of one turn (ssh_pump.cpp), in the order a
  // turn takes them.
  struct LoopState;
  Status loop();
  Status turn(LoopState& st, bool* done);  // one turn's session work, under the share's lock
  void read_far_stderr(LoopState& st);
  Status read_far_stdout(LoopState& st);
  void write_to_engines(LoopState& st);
  void shut_engines_input_at_far_eof(LoopState& st);
  void read_from_engines(LoopState& st);
  Status write_to_far_side(LoopState& st);
  Status pump_lanes(LoopState& st);
  void send_eof_at_local_eof(LoopState& st);
  bool finished(const LoopState& st) const;
  Status flush_session_output();
  Status wait_for_io(const LoopState& st);
  Status keepalive_if_quiet(LoopState& st);
  bool session_write_pending() const;
  Status lost(const char* what) const;  // "lost the connection to HOST while <what>: ..."

  void relay_stderr(const char* data, size_t len, bool flush);
  void drain_far_stderr(int wait_ms);
  void write_stderr_lines(const char* data, size_t len, bool flush);  // stderr_mu_ held
  Status keepalive();
  int read_stdout(uint8_t* dest, uint32_t count);
  void serve_lane_request();  // pump thread
  void end_lane_requests();   // pump thread, as it ends

  ssh_session session_;
  ssh_channel channel_;
  SessionShare own_share_;  // when the session is not shared
  SessionShare* share_;
  UniqueFd local_;
  std::string host_;
  int keepalive_seconds_;
  long io_timeout_seconds_;
  UniqueFd wake_read_, wake_write_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  bool joined_ = true;
  PumpResult result_;
  std::mutex stderr_mu_;  // guards the three below: relay runs on the pump thread
  std::string stderr_partial_;
  bool holding_ = false;
  std::string held_;

  // A lane request handed from the owning thread to the pump thread.
  struct LaneRequest {
    proto::Lanes offer;
    uint16_t count = 0;
    UniqueFd local;
    bool done = false;
    Status status;
  };
  std::mutex lanes_mu_;  // guards lane_request_ and pump_ended_
  std::condition_variable lanes_cv_;
  LaneRequest* lane_request_ = nullptr;
  bool pump_ended_ = false;
  std::atomic<bool> lane_request_waiting_{false};
  std::unique_ptr<LaneChannels> lanes_;  // pump thread
};

}  // namespace sparsync
