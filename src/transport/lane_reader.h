// LaneReader: the server's view of a push carried over lanes (PROTOCOL.md
// §4.15). The client cuts its stream into segments, each a u32 length and
// that many bytes, and sends segment k on lane k mod N; this puts the stream
// back together in that order. While it waits for the lane whose turn it is,
// it takes in whatever the other lanes have, up to kLaneHold each: a lane
// left unread makes sshd, which forwards it, retry its write again and again
// (16 lanes cost sshd three times the CPU of one channel here, on the
// copy's critical path), where a lane read ahead costs only a copy.
// Thread-safety: one reader thread.
#pragma once

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/frame_io.h"
#include "common/unique_fd.h"

namespace sparsync {

// Bytes a lane may hold read ahead of its turn: two of the client's
// segments (transport/lane_channels.cpp), so 8 MiB for 16 lanes.
inline constexpr size_t kLaneHold = size_t{512} * 1024;

class LaneReader : public ByteSource {
 public:
  // `lanes[i]` is lane i, its preamble already read.
  explicit LaneReader(std::vector<UniqueFd> lanes);

  // Ends cleanly (*got short, 0 returned) only where a segment would start;
  // a bad segment length or a lane ending inside a segment is EPROTO.
  int read_full(uint8_t* buf, size_t count, size_t* got) override;
  // A wait in which no lane brings a byte for `seconds` ends with ETIMEDOUT.
  void set_idle_timeout(uint32_t seconds) override { idle_ms_ = static_cast<int>(seconds) * 1000; }

 private:
  struct Lane {
    UniqueFd fd;
    std::vector<uint8_t> hold;  // read ahead: bytes [begin, end) of it
    size_t begin = 0;
    size_t end = 0;
    bool ended = false;  // end of stream or an error seen
    int error = 0;
  };

  // Moves up to `count` bytes of lane `i` into `out`, waiting until there
  // is at least one. 0: the lane has ended (*err says how; 0 when cleanly).
  size_t take(size_t i, uint8_t* out, size_t count, int* err);
  // Waits until a lane is readable, then reads lane `i` straight into
  // `out` (*direct bytes) and every other readable lane into its hold.
  int receive(size_t i, uint8_t* out, size_t count, size_t* direct);
  // One read of `lane` into `dest`; its end or error is recorded in `lane`.
  static size_t read_once(Lane& lane, uint8_t* dest, size_t room);
  void read_ahead(Lane& lane);
  // Reads the next segment's header from the next lane. 0 with *ended set:
  // the stream ended cleanly here.
  int next_segment(bool* ended);

  std::vector<Lane> lanes_;
  // receive()'s poll set and the lane of each entry, kept between calls.
  std::vector<pollfd> poll_fds_;
  std::vector<size_t> poll_lanes_;
  size_t current_ = 0;         // the lane the current segment is on
  uint32_t segment_left_ = 0;  // bytes of it not yet read
  bool started_ = false;       // false until the first segment's header
  int idle_ms_ = -1;           // poll timeout; -1: none
};

// The 4-byte header that opens a segment of `length` bytes.
void encode_segment_header(uint32_t length, uint8_t out[4]);

}  // namespace sparsync
