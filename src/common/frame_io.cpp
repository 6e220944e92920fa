#include "common/frame_io.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/interrupt.h"
#include "common/printable.h"
#include "common/unique_fd.h"

namespace sparsync {

int FrameReader::fill(uint8_t* buf, size_t count, size_t* got, bool frame_start) {
  if (source_ == nullptr) return fill_from_fd(buf, count, got, frame_start);
  return source_->read_full(buf, count, got);
}

int FrameReader::wait_readable(bool frame_start) {
  WaitLimits limits = limits_;
  limits.interruptible = limits_.interruptible && frame_start;
  limits.deadline_ns = &deadline_ns_;
  int err = 0;
  ended_ = wait_fd(fd_, POLLIN, limits, &err);
  if (ended_ == WaitEnd::kReady) return 0;
  return ended_ == WaitEnd::kError ? err : ECANCELED;
}

int FrameReader::fill_from_fd(uint8_t* buf, size_t count, size_t* got, bool frame_start) {
  size_t done = 0;
  while (done < count) {
    if (ahead_pos_ < ahead_end_) {
      size_t n = std::min(count - done, ahead_end_ - ahead_pos_);
      std::memcpy(buf + done, ahead_.data() + ahead_pos_, n);
      ahead_pos_ += n;
      done += n;
      continue;
    }
    {  // always: a deadline may be set while we wait
      int err = wait_readable(frame_start && done == 0);
      if (err != 0) {
        *got = done;
        return err;
      }
    }
    // What is left of a large payload goes straight to its place.
    bool direct = count - done >= kReadAhead;
    if (!direct && ahead_.empty()) ahead_.resize(kReadAhead);
    ssize_t n = direct ? ::read(fd_, buf + done, count - done) : ::read(fd_, ahead_.data(), ahead_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      // The fd is shared with a writer that made it non-blocking.
      if (errno == EAGAIN || errno == EWOULDBLOCK) continue;  // a writer made the fd non-blocking
      *got = done;
      return errno;
    }
    if (n == 0) break;
    if (direct) {
      done += static_cast<size_t>(n);
    } else {
      ahead_pos_ = 0;
      ahead_end_ = static_cast<size_t>(n);
    }
  }
  *got = done;
  return 0;
}

void FrameReader::set_timeout(uint32_t seconds, const std::string& peer) {
  limits_.idle_seconds = seconds;
  peer_ = peer;
  if (source_ != nullptr) source_->set_idle_timeout(seconds);
}

void FrameReader::copy_settings_to(FrameReader& other) const {
  other.set_timeout(limits_.idle_seconds, peer_);
  other.peer_timeout_ = peer_timeout_;
}

Status FrameReader::read_failure(int err, const char* where) const {
  if (err == ECANCELED && ended_ == WaitEnd::kInterrupted) return Status(ErrorKind::kInterrupted, "interrupted");
  if (err == ECANCELED && ended_ == WaitEnd::kDeadline) {
    return Status(ErrorKind::kInterrupted, "no answer from " + peer_ + " before the deadline");
  }
  if ((err == ECANCELED && ended_ == WaitEnd::kIdle) || err == ETIMEDOUT) {
    return Status(ErrorKind::kConnection,
                  "no data from " + peer_ + " for " + std::to_string(limits_.idle_seconds) + " s (--timeout)")
        .as_timeout();
  }
  return errno_status(ErrorKind::kConnection, where, err);
}

Status FrameReader::read(Frame* frame) {
  for (;;) {
    SPARSYNC_RETURN_IF_ERROR(read_one(frame));
    if (frame->type != proto::MsgType::kKeepalive || peer_timeout_ == nullptr) return Status::ok();
    proto::Keepalive k;
    SPARSYNC_RETURN_IF_ERROR(proto::decode(frame->payload, &k));
    peer_timeout_->announce(k.timeout_seconds);
  }
}

Status FrameReader::read_one(Frame* frame) {
  if (limits_.interruptible && interrupted()) return Status(ErrorKind::kInterrupted, "interrupted");
  const int64_t deadline = deadline_ns_.load();
  if (deadline != 0 && steady_ns(std::chrono::steady_clock::now()) >= deadline) {
    ended_ = WaitEnd::kDeadline;
    return read_failure(ECANCELED, "");
  }
  uint8_t header[proto::kFrameHeaderSize];
  size_t got = 0;
  int err = fill(header, sizeof(header), &got, true);
  if (err != 0) return read_failure(err, "reading from peer");
  hung_up_ = got < sizeof(header);
  if (got == 0) return Status(ErrorKind::kConnection, "peer closed the connection");
  if (got < sizeof(header)) return Status(ErrorKind::kConnection, "peer closed the connection mid-frame");
  proto::FrameHeader h;
  SPARSYNC_RETURN_IF_ERROR(proto::decode_header(header, &h));
  frame->type = h.type;
  frame->payload.resize(h.length);
  err = fill(frame->payload.data(), h.length, &got, false);
  if (err != 0) return read_failure(err, "reading from peer");
  hung_up_ = got < h.length;
  if (got < h.length) return Status(ErrorKind::kConnection, "peer closed the connection mid-frame");
  bytes_read_ += sizeof(header) + h.length;
  return Status::ok();
}

void FrameWriter::set_timeout(uint32_t seconds, const std::string& peer) {
  std::lock_guard<std::mutex> lock(mu_);
  timeout_seconds_ = seconds;
  peer_ = peer;
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) == 0) (void)::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

// With mu_ held, after a write found the fd full.
Status FrameWriter::wait_writable() {
  WaitLimits limits;
  limits.idle_seconds = timeout_seconds_;
  int err = 0;
  switch (wait_fd(fd_, POLLOUT, limits, &err)) {
    case WaitEnd::kReady:
      return Status::ok();
    case WaitEnd::kIdle:
      return Status(ErrorKind::kConnection,
                    peer_ + " took no data for " + std::to_string(timeout_seconds_) + " s (--timeout)")
          .as_timeout();
    default:
      return errno_status(ErrorKind::kConnection, "writing to peer", err);
  }
}

Status FrameWriter::writev_all(iovec* iov, int count) {
  while (count > 0) {
    ssize_t n = ::writev(fd_, iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        SPARSYNC_RETURN_IF_ERROR(wait_writable());
        continue;
      }
      return errno_status(ErrorKind::kConnection, "writing to peer", errno);
    }
    bytes_written_ += static_cast<uint64_t>(n);
    last_write_ = std::chrono::steady_clock::now();
    auto left = static_cast<size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return Status::ok();
}

bool FrameWriter::coalesces(proto::MsgType type, size_t frame_bytes) const {
  return coalescing_ && frame_bytes < kCoalesceFrameMax &&
         (type == proto::MsgType::kData || type == proto::MsgType::kDataZstd || type == proto::MsgType::kHole);
}

Status FrameWriter::queue_locked(const iovec (&frame)[2]) {
  for (const iovec& part : frame) {
    const auto* p = static_cast<const uint8_t*>(part.iov_base);
    pending_.insert(pending_.end(), p, p + part.iov_len);
  }
  return pending_.size() < kCoalesceBytes ? Status::ok() : write_locked(nullptr, 0);
}

Status FrameWriter::write_locked(iovec* iov, int count) {
  if (pending_.empty()) return writev_all(iov, count);
  iovec all[4] = {{pending_.data(), pending_.size()}};
  for (int i = 0; i < count; ++i) all[i + 1] = iov[i];
  Status s = writev_all(all, count + 1);
  pending_.clear();
  return s;
}

Status FrameWriter::write(proto::MsgType type, std::span<const uint8_t> payload) {
  if (payload.size() > proto::kMaxPayload) {
    return Status(ErrorKind::kInternal, "refusing to send an oversized frame");
  }
  uint8_t header[proto::kFrameHeaderSize];
  proto::encode_header(type, static_cast<uint32_t>(payload.size()), header);
  iovec iov[2] = {{header, sizeof(header)}, {const_cast<uint8_t*>(payload.data()), payload.size()}};
  std::lock_guard<std::mutex> lock(mu_);
  if (coalesces(type, sizeof(header) + payload.size())) return queue_locked(iov);
  if (type == proto::MsgType::kError) ended_ = true;
  return write_locked(iov, 2);
}

Status FrameWriter::write_keepalive_if_idle(std::chrono::steady_clock::duration idle, uint32_t announce) {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  // Someone is writing (or blocked writing): the stream is not idle, or the
  // peer is not reading and a keepalive would not reach it either.
  if (!lock.owns_lock() || ended_ || std::chrono::steady_clock::now() - last_write_ < idle) return Status::ok();
  std::vector<uint8_t> payload = proto::encode(proto::Keepalive{announce});
  uint8_t header[proto::kFrameHeaderSize];
  proto::encode_header(proto::MsgType::kKeepalive, static_cast<uint32_t>(payload.size()), header);
  iovec iov[2] = {{header, sizeof(header)}, {payload.data(), payload.size()}};
  return write_locked(iov, 2);
}

Status FrameWriter::write_data(uint64_t offset, const uint8_t* bytes, uint32_t length) {
  if (length == 0 || length > proto::kMaxDataPerFrame) {
    return Status(ErrorKind::kInternal, "refusing to send a DATA frame of " + std::to_string(length) + " bytes");
  }
  uint8_t header[proto::kFrameHeaderSize];
  uint8_t prefix[proto::kDataPrefixBytes];
  proto::encode_header(proto::MsgType::kData, static_cast<uint32_t>(sizeof(prefix) + length), header);
  proto::encode_data_prefix(offset, prefix);
  uint8_t head[sizeof(header) + sizeof(prefix)];
  std::memcpy(head, header, sizeof(header));
  std::memcpy(head + sizeof(header), prefix, sizeof(prefix));
  iovec iov[2] = {{head, sizeof(head)}, {const_cast<uint8_t*>(bytes), length}};
  std::lock_guard<std::mutex> lock(mu_);
  if (coalesces(proto::MsgType::kData, sizeof(header) + length)) return queue_locked(iov);
  return write_locked(iov, 2);
}

Status FrameWriter::flush() {
  std::lock_guard<std::mutex> lock(mu_);
  return write_locked(nullptr, 0);
}

Status FrameWriter::set_coalescing(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  coalescing_ = on;
  if (on) pending_.reserve(kCoalesceBytes + kCoalesceFrameMax);
  return write_locked(nullptr, 0);
}

uint64_t FrameWriter::bytes_written() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_written_;
}

std::vector<uint8_t> encode_error(const Status& status) {
  return proto::encode(proto::Error{static_cast<proto::ErrorCode>(static_cast<int>(status.kind())), status.message()});
}

Status unexpected_frame(const Frame& frame, const char* expected) {
  if (frame.type == proto::MsgType::kError) {
    proto::Error e;
    Status s = proto::decode(frame.payload, &e);
    if (!s.is_ok()) return s;
    // The peer's words reach terminals, logs and JSON: escaped here, once.
    return Status(static_cast<ErrorKind>(static_cast<int>(e.code)), printable(e.message)).as_from_peer();
  }
  return Status(ErrorKind::kProtocol,
                std::string("peer sent ") + proto::msg_type_name(frame.type) + " where " + expected + " was expected");
}

}  // namespace sparsync
