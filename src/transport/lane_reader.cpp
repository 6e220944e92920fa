#include "transport/lane_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/proto/protocol_constants.h"

namespace sparsync {

void encode_segment_header(uint32_t length, uint8_t out[4]) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(length >> (8 * i));
}

LaneReader::LaneReader(std::vector<UniqueFd> lanes) {
  lanes_.resize(lanes.size());
  for (size_t i = 0; i < lanes.size(); ++i) lanes_[i].fd = std::move(lanes[i]);
}

size_t LaneReader::read_once(Lane& lane, uint8_t* dest, size_t room) {
  ssize_t n = ::read(lane.fd.get(), dest, room);
  if (n > 0) return static_cast<size_t>(n);
  if (n == 0) {
    lane.ended = true;
  } else if (errno != EINTR && errno != EAGAIN) {
    lane.ended = true;
    lane.error = errno;
  }
  return 0;
}

void LaneReader::read_ahead(Lane& lane) {
  if (lane.hold.empty()) lane.hold.resize(kLaneHold);
  if (lane.begin > 0) {
    std::memmove(lane.hold.data(), lane.hold.data() + lane.begin, lane.end - lane.begin);
    lane.end -= lane.begin;
    lane.begin = 0;
  }
  lane.end += read_once(lane, lane.hold.data() + lane.end, lane.hold.size() - lane.end);
}

int LaneReader::receive(size_t i, uint8_t* out, size_t count, size_t* direct) {
  *direct = 0;
  poll_fds_.clear();
  poll_lanes_.clear();
  for (size_t k = 0; k < lanes_.size(); ++k) {
    const Lane& lane = lanes_[k];
    // Lane i's hold is empty here; a full hold waits for its turn.
    if (lane.ended || (k != i && lane.end - lane.begin >= kLaneHold)) continue;
    poll_fds_.push_back(pollfd{lane.fd.get(), POLLIN, 0});
    poll_lanes_.push_back(k);
  }
  int ready = ::poll(poll_fds_.data(), poll_fds_.size(), idle_ms_ > 0 ? idle_ms_ : -1);
  if (ready < 0) return errno == EINTR ? 0 : errno;
  if (ready == 0) return ETIMEDOUT;
  for (size_t f = 0; f < poll_fds_.size(); ++f) {
    if (poll_fds_[f].revents == 0) continue;
    Lane& lane = lanes_[poll_lanes_[f]];
    if (poll_lanes_[f] == i) {
      *direct = read_once(lane, out, count);
    } else {
      read_ahead(lane);
    }
  }
  return 0;
}

size_t LaneReader::take(size_t i, uint8_t* out, size_t count, int* err) {
  *err = 0;
  for (;;) {
    Lane& lane = lanes_[i];
    if (lane.end > lane.begin) {
      size_t n = std::min(count, lane.end - lane.begin);
      std::memcpy(out, lane.hold.data() + lane.begin, n);
      lane.begin += n;
      if (lane.begin == lane.end) lane.begin = lane.end = 0;
      return n;
    }
    if (lane.ended) {
      *err = lane.error;
      return 0;
    }
    size_t direct = 0;
    int e = receive(i, out, count, &direct);
    if (e != 0) {
      *err = e;
      return 0;
    }
    if (direct > 0) return direct;
  }
}

int LaneReader::next_segment(bool* ended) {
  *ended = false;
  if (started_) current_ = (current_ + 1) % lanes_.size();
  started_ = true;
  uint8_t header[4];
  size_t have = 0;
  while (have < sizeof(header)) {
    int err = 0;
    size_t n = take(current_, header + have, sizeof(header) - have, &err);
    if (n == 0) {
      if (err != 0) return err;
      if (have == 0) {
        *ended = true;
        return 0;
      }
      return EPROTO;
    }
    have += n;
  }
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
    int err = 0;
    size_t n = take(current_, buf + done, want, &err);
    if (n == 0) {
      *got = done;
      return err != 0 ? err : EPROTO;
    }
    done += n;
    segment_left_ -= static_cast<uint32_t>(n);
  }
  *got = done;
  return 0;
}

}  // namespace sparsync
