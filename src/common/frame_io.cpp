#include "common/frame_io.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "common/printable.h"
#include "common/unique_fd.h"

namespace sparsync {

int FrameReader::fill(uint8_t* buf, size_t count, size_t* got) {
  return source_ != nullptr ? source_->read_full(buf, count, got) : fill_from_fd(buf, count, got);
}

int FrameReader::fill_from_fd(uint8_t* buf, size_t count, size_t* got) {
  size_t done = 0;
  while (done < count) {
    if (ahead_pos_ < ahead_end_) {
      size_t n = std::min(count - done, ahead_end_ - ahead_pos_);
      std::memcpy(buf + done, ahead_.data() + ahead_pos_, n);
      ahead_pos_ += n;
      done += n;
      continue;
    }
    // What is left of a large payload goes straight to its place.
    if (count - done >= kReadAhead) {
      size_t direct = 0;
      int err = read_full(fd_, buf + done, count - done, &direct);
      *got = done + direct;
      return err;
    }
    if (ahead_.empty()) ahead_.resize(kReadAhead);
    ssize_t n = ::read(fd_, ahead_.data(), ahead_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      *got = done;
      return errno;
    }
    if (n == 0) break;
    ahead_pos_ = 0;
    ahead_end_ = static_cast<size_t>(n);
  }
  *got = done;
  return 0;
}

Status FrameReader::read(Frame* frame) {
  uint8_t header[proto::kFrameHeaderSize];
  size_t got = 0;
  int err = fill(header, sizeof(header), &got);
  if (err != 0) return errno_status(ErrorKind::kConnection, "reading from peer", err);
  if (got == 0) return Status(ErrorKind::kConnection, "peer closed the connection");
  if (got < sizeof(header)) return Status(ErrorKind::kConnection, "peer closed the connection mid-frame");
  proto::FrameHeader h;
  SPARSYNC_RETURN_IF_ERROR(proto::decode_header(header, &h));
  frame->type = h.type;
  frame->payload.resize(h.length);
  err = fill(frame->payload.data(), h.length, &got);
  if (err != 0) return errno_status(ErrorKind::kConnection, "reading from peer", err);
  if (got < h.length) return Status(ErrorKind::kConnection, "peer closed the connection mid-frame");
  bytes_read_ += sizeof(header) + h.length;
  return Status::ok();
}

Status FrameWriter::writev_all(iovec* iov, int count) {
  while (count > 0) {
    ssize_t n = ::writev(fd_, iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status(ErrorKind::kConnection, "writing to peer", errno);
    }
    bytes_written_ += static_cast<uint64_t>(n);
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
  iovec iov[2] = {{header, sizeof(header)},
                  {const_cast<uint8_t*>(payload.data()), payload.size()}};
  std::lock_guard<std::mutex> lock(mu_);
  if (coalesces(type, sizeof(header) + payload.size())) return queue_locked(iov);
  return write_locked(iov, 2);
}

Status FrameWriter::write_data(uint64_t offset, const uint8_t* bytes, uint32_t length) {
  if (length == 0 || length > proto::kMaxDataPerFrame) {
    return Status(ErrorKind::kInternal, "refusing to send a DATA frame of " + std::to_string(length) + " bytes");
  }
  uint8_t header[proto::kFrameHeaderSize + 8];
  proto::encode_header(proto::MsgType::kData, length + 8, header);
  for (int i = 0; i < 8; ++i) header[proto::kFrameHeaderSize + i] = static_cast<uint8_t>(offset >> (8 * i));
  iovec iov[2] = {{header, sizeof(header)}, {const_cast<uint8_t*>(bytes), length}};
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
  return proto::encode(proto::Error{static_cast<proto::ErrorCode>(static_cast<int>(status.kind())),
                                    status.message()});
}

Status unexpected_frame(const Frame& frame, const char* expected) {
  if (frame.type == proto::MsgType::kError) {
    proto::Error e;
    Status s = proto::decode(frame.payload, &e);
    if (!s.is_ok()) return s;
    // The peer's words reach terminals, logs and JSON: escaped here, once.
    return Status(static_cast<ErrorKind>(static_cast<int>(e.code)), printable(e.message)).as_from_peer();
  }
  return Status(ErrorKind::kProtocol, std::string("peer sent ") + proto::msg_type_name(frame.type) +
                                          " where " + expected + " was expected");
}

}  // namespace sparsync
