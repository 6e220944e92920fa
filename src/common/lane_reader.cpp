#include "common/lane_reader.h"

#include <cerrno>

#include "common/protocol_constants.h"

namespace sparsync {

void encode_segment_header(uint32_t length, uint8_t out[4]) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(length >> (8 * i));
}

int LaneReader::next_segment(bool* ended) {
  *ended = false;
  if (started_) current_ = (current_ + 1) % lanes_.size();
  started_ = true;
  uint8_t header[4];
  size_t got = 0;
  int err = sparsync::read_full(lanes_[current_].get(), header, sizeof(header), &got);
  if (err != 0) return err;
  if (got == 0) {
    *ended = true;
    return 0;
  }
  if (got < sizeof(header)) return EPROTO;
  uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length |= static_cast<uint32_t>(header[i]) << (8 * i);
  if (length == 0 || length > proto::kMaxLaneSegment) return EPROTO;
  segment_left_ = length;
  return 0;
}

int LaneReader::read_full(uint8_t* buf, size_t count, size_t* got) {
  size_t done = 0;
  while (done < count) {
    if (segment_left_ == 0) {
      bool ended = false;
      int err = next_segment(&ended);
      if (err != 0 || ended) {
        *got = done;
        return err;
      }
    }
    size_t want = std::min<size_t>(count - done, segment_left_);
    size_t n = 0;
    int err = sparsync::read_full(lanes_[current_].get(), buf + done, want, &n);
    done += n;
    segment_left_ -= static_cast<uint32_t>(n);
    if (err != 0 || n < want) {
      *got = done;
      return err != 0 ? err : EPROTO;
    }
  }
  *got = done;
  return 0;
}

}  // namespace sparsync
