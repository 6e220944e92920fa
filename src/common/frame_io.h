// Frames over file descriptors. FrameReader reads one whole frame at a time
// into a reusable buffer; FrameWriter writes whole frames atomically with
// respect to other writers of the same stream (header and payload in one
// writev under a mutex), so frames from two threads never interleave.
// Thread-safety: FrameReader is used by one thread; FrameWriter by many.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include "common/byte_buffer.h"
#include "common/frame_codec.h"
#include "common/messages.h"
#include "common/status.h"

namespace sparsync {

struct Frame {
  Frame() = default;
  Frame(proto::MsgType t, std::span<const uint8_t> p) : type(t), payload(p.begin(), p.end()) {}
  proto::MsgType type = proto::MsgType::kError;
  ByteBuffer payload;  // resized without zero-filling: read() overwrites it
};

// Where a FrameReader gets its bytes when they do not come from one fd (the
// server's lanes, common/lane_reader.h). Same contract as read_full in
// common/unique_fd.h: fills `buf` with `count` bytes unless the stream ends
// first (*got says how many arrived); returns 0 or an errno value.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual int read_full(uint8_t* buf, size_t count, size_t* got) = 0;
};

class FrameReader {
 public:
  explicit FrameReader(int fd) : fd_(fd) {}
  explicit FrameReader(ByteSource* source) : fd_(-1), source_(source) {}
  // Reads the next frame. A stream that ends cleanly between frames yields a
  // kConnection status saying the peer closed it; inside a frame, a
  // truncated-frame status.
  Status read(Frame* frame);
  uint64_t bytes_read() const { return bytes_read_; }

  // From an fd, reads take up to kReadAhead bytes at once and later frames
  // come out of that buffer: a stream of small frames (4 KiB DATA, HASH)
  // cost two read calls per frame before. Bytes past the last frame read
  // belong to this reader, so one FrameReader reads an fd for its lifetime.
  static constexpr size_t kReadAhead = 64u << 10;

 private:
  int fill(uint8_t* buf, size_t count, size_t* got);
  int fill_from_fd(uint8_t* buf, size_t count, size_t* got);
  int fd_;
  ByteSource* source_ = nullptr;
  uint64_t bytes_read_ = 0;
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
  int fd_;
  mutable std::mutex mu_;
  uint64_t bytes_written_ = 0;
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
