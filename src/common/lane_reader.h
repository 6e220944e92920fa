// LaneReader: the server's view of a push carried over lanes (PROTOCOL.md
// §4.15). The client cuts its stream into segments, each a u32 length and
// that many bytes, and sends segment k on lane k mod N; this puts the stream
// back together by reading the lanes strictly in that order. A lane that is
// not being read only fills its own socket buffer and SSH window, so the
// order costs nothing while every lane is busy.
// Thread-safety: one reader thread.
#pragma once

#include <vector>

#include "common/frame_io.h"
#include "common/unique_fd.h"

namespace sparsync {

class LaneReader : public ByteSource {
 public:
  // `lanes[i]` is lane i, its preamble already read.
  explicit LaneReader(std::vector<UniqueFd> lanes) : lanes_(std::move(lanes)) {}

  // Ends cleanly (*got short, 0 returned) only where a segment would start;
  // a bad segment length or a lane ending inside a segment is EPROTO.
  int read_full(uint8_t* buf, size_t count, size_t* got) override;

 private:
  // Reads the next segment's header from the current lane. 0 with
  // *ended set: the stream ended cleanly here.
  int next_segment(bool* ended);

  std::vector<UniqueFd> lanes_;
  size_t current_ = 0;        // the lane the current segment is on
  uint32_t segment_left_ = 0;  // bytes of it not yet read
  bool started_ = false;       // false until the first segment's header
};

// The 4-byte header that opens a segment of `length` bytes.
void encode_segment_header(uint32_t length, uint8_t out[4]);

}  // namespace sparsync
