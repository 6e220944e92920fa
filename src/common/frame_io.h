// Frames over file descriptors. FrameReader reads one whole frame at a time
// into a reusable buffer; FrameWriter writes whole frames atomically with
// respect to other writers of the same stream (header and payload in one
// writev under a mutex), so frames from two threads never interleave.
// Either can bound its waits for the peer (set_timeout, common/io_wait.h),
// and the reader consumes the peer's KEEPALIVE frames wherever they arrive
// (PROTOCOL.md §4.16), so no caller ever sees one.
// Thread-safety: FrameReader is used by one thread; FrameWriter by many.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/byte_buffer.h"
#include "common/io_wait.h"
#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"
#include "common/status.h"

namespace sparsync {

struct Frame {
  Frame() = default;
  Frame(proto::MsgType t, std::span<const uint8_t> p) : type(t), payload(p.begin(), p.end()) {}
  proto::MsgType type = proto::MsgType::kError;
  ByteBuffer payload;  // resized without zero-filling: read() overwrites it
};

// Where a FrameReader gets its bytes when they do not come from one fd (the
// server's lanes, transport/lane_reader.h). Same contract as read_full in
// common/unique_fd.h: fills `buf` with `count` bytes unless the stream ends
// first (*got says how many arrived); returns 0 or an errno value.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual int read_full(uint8_t* buf, size_t count, size_t* got) = 0;
  // Bounds each wait for bytes: none for `seconds` ends it with ETIMEDOUT.
  virtual void set_idle_timeout(uint32_t /*seconds*/) {}
};

// The idle timeout the peer announced in KEEPALIVE (PROTOCOL.md §4.16), for
// the thread that keeps the peer's waits alive (common/keepalive.h).
class PeerTimeout {
 public:
  void announce(uint32_t seconds) { seconds_.store(seconds); }
  bool known() const { return seconds_.load() >= 0; }
  uint32_t seconds() const { return static_cast<uint32_t>(std::max<int64_t>(seconds_.load(), 0)); }

 private:
  std::atomic<int64_t> seconds_{-1};
};

class FrameReader {
 public:
  explicit FrameReader(int fd) : fd_(fd) {}
  explicit FrameReader(ByteSource* source) : fd_(-1), source_(source) {}
  // Reads the next frame. A stream that ends cleanly between frames yields a
  // kConnection status saying the peer closed it; inside a frame, a
  // truncated-frame status.
  // A KEEPALIVE is consumed here (with accept_keepalives) and never returned.
  // A wait for the peer that outlasts the timeout fails with a timed-out
  // kConnection status; an interrupt or the deadline (below) at a frame
  // boundary with kInterrupted.
  Status read(Frame* frame);
  uint64_t bytes_read() const { return bytes_read_; }
  // True once a read found the stream closed (between frames or inside one):
  // the peer hung up, as opposed to a read error or a timeout.
  bool peer_hung_up() const { return hung_up_; }

  // Each wait for the peer's bytes ends after `seconds` without one (0: no
  // bound); `peer` names the far end in the message.
  void set_timeout(uint32_t seconds, const std::string& peer);
  // With kFeatureKeepalive negotiated: KEEPALIVE frames are taken here and
  // their timeout stored in `peer` (which must outlive the reader).
  void accept_keepalives(PeerTimeout* peer) { peer_timeout_ = peer; }
  // Copies timeout and keepalive handling to `other` (a pushed stream that
  // moves to lanes).
  void copy_settings_to(FrameReader& other) const;
  // While on, a read that starts after SIGINT/SIGTERM, or waits at a frame
  // boundary when one arrives, fails with kInterrupted: the caller decides
  // how to stop. Mid-frame waits never end that way.
  void set_interruptible(bool on) { limits_.interruptible = on; }
  // Reads that would have to wait past `deadline` fail with kInterrupted.
  // Any thread may set it, also while a read waits (it notices within 100 ms).
  void set_deadline(std::chrono::steady_clock::time_point deadline) { deadline_ns_.store(steady_ns(deadline)); }

  // From an fd, reads take up to kReadAhead bytes at once and later frames
  // come out of that buffer: a stream of small frames (4 KiB DATA, HASH)
  // cost two read calls per frame before. Bytes past the last frame read
  // belong to this reader, so one FrameReader reads an fd for its lifetime.
  static constexpr size_t kReadAhead = 64u << 10;

 private:
  Status read_one(Frame* frame);
  // A frame boundary: `frame_start` lets an interrupt end the wait.
  int fill(uint8_t* buf, size_t count, size_t* got, bool frame_start);
  int fill_from_fd(uint8_t* buf, size_t count, size_t* got, bool frame_start);
  // 0 when fd_ is readable; else the errno to report (ECANCELED: see ended_).
  int wait_readable(bool frame_start);
  Status read_failure(int err, const char* where) const;
  int fd_;
  ByteSource* source_ = nullptr;
  uint64_t bytes_read_ = 0;
  bool hung_up_ = false;
  WaitLimits limits_;  // deadline_ns is set per wait, to deadline_ns_
  std::atomic<int64_t> deadline_ns_{0};
  std::string peer_ = "the peer";
  WaitEnd ended_ = WaitEnd::kReady;  // why the last wait gave up
  PeerTimeout* peer_timeout_ = nullptr;
  std::vector<uint8_t> ahead_;  // read from fd_, not yet returned: [ahead_pos_, ahead_end_)
  size_t ahead_pos_ = 0;
  size_t ahead_end_ = 0;
};

class FrameWriter {
 public:
  explicit FrameWriter(int fd) : fd_(fd) {}
  Status write(proto::MsgType type, std::span<const uint8_t> payload);
  // DATA: header, 8-byte offset and the bytes, without copying the bytes.
  Status write_data(uint64_t offset, const uint8_t* bytes, uint32_t length);
  uint64_t bytes_written() const;

  // A write the peer takes no byte of for `seconds` fails (0: no bound);
  // `peer` names it in the message. Makes the fd non-blocking: a reader of
  // the same fd (a socket) copes with that too.
  void set_timeout(uint32_t seconds, const std::string& peer);
  // Writes KEEPALIVE{announce} unless the stream carried something within
  // `idle`, another thread is writing right now, or an ERROR has gone out
  // (the last frame, PROTOCOL.md §5). For common/keepalive.h.
  Status write_keepalive_if_idle(std::chrono::steady_clock::duration idle, uint32_t announce);

  // Coalescing, for the source's stream of DATA, DATA_ZSTD and HOLE frames:
  // while on, such frames under kCoalesceFrameMax wait in a buffer until it
  // holds kCoalesceBytes, a frame of another type or a larger one is written
  // (it goes out behind them, in the same system call), or flush(). Written
  // one by one, each small frame became its own SSH packet, and sshd spent
  // more CPU on 10 k packets of 4 KiB than on 1 GiB of 32 KiB ones. The
  // frames and their order on the wire are the same either way. Turning it
  // off flushes. A caller that waits for its peer's answer to a batchable
  // frame must flush first (every answered frame type flushes by itself).
  static constexpr size_t kCoalesceBytes = 256u << 10;
  static constexpr size_t kCoalesceFrameMax = 64u << 10;
  Status set_coalescing(bool on);
  Status flush();

 private:
  // With mu_ held: writes the coalesced bytes, then iov[0..count).
  Status write_locked(iovec* iov, int count);
  // With mu_ held: appends a frame (header, payload) to the batch, and
  // writes the batch once it is full.
  Status queue_locked(const iovec (&frame)[2]);
  Status writev_all(iovec* iov, int count);
  bool coalesces(proto::MsgType type, size_t frame_bytes) const;
  Status wait_writable();
  int fd_;
  mutable std::mutex mu_;
  uint64_t bytes_written_ = 0;
  std::chrono::steady_clock::time_point last_write_ = std::chrono::steady_clock::now();
  uint32_t timeout_seconds_ = 0;
  std::string peer_ = "the peer";
  bool ended_ = false;  // an ERROR went out
  bool coalescing_ = false;
  std::vector<uint8_t> pending_;  // whole frames, in order
};

// The ERROR payload that tells the peer about `status`: its category as the
// code (= the exit code) and its one-line message.
std::vector<uint8_t> encode_error(const Status& status);

// If `frame` is an ERROR, decodes it into a status carrying the peer's code
// and text; otherwise returns a protocol status naming the unexpected type.
Status unexpected_frame(const Frame& frame, const char* expected);

}  // namespace sparsync
