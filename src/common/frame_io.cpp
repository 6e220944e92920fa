#include "common/frame_io.h"

#include <cerrno>
#include <unistd.h>

#include "common/unique_fd.h"

namespace sparsync {

int FrameReader::fill(uint8_t* buf, size_t count, size_t* got) {
  return source_ != nullptr ? source_->read_full(buf, count, got) : read_full(fd_, buf, count, got);
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

Status FrameWriter::write(proto::MsgType type, std::span<const uint8_t> payload) {
  if (payload.size() > proto::kMaxPayload) {
    return Status(ErrorKind::kInternal, "refusing to send an oversized frame");
  }
  uint8_t header[proto::kFrameHeaderSize];
  proto::encode_header(type, static_cast<uint32_t>(payload.size()), header);
  iovec iov[2] = {{header, sizeof(header)},
                  {const_cast<uint8_t*>(payload.data()), payload.size()}};
  std::lock_guard<std::mutex> lock(mu_);
  return writev_all(iov, 2);
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
  return writev_all(iov, 2);
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
    return Status(static_cast<ErrorKind>(static_cast<int>(e.code)), e.message).as_from_peer();
  }
  return Status(ErrorKind::kProtocol, std::string("peer sent ") + proto::msg_type_name(frame.type) +
                                          " where " + expected + " was expected");
}

}  // namespace sparsync
