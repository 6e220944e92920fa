// FrameWriter / FrameReader (common/frame_io.h) over a real
// socketpair(AF_UNIX, SOCK_STREAM), against proto/PROTOCOL.md §2 and §5:
// round trips, the DATA wire encoding of write_data, byte counters, close vs
// mid-frame truncation, the header check before any payload allocation,
// unexpected_frame, and whole frames under concurrent writers.
#include <gtest/gtest.h>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "common/frame_io.h"
#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"
#include "common/proto/protocol_constants.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace sparsync {
namespace {

using Bytes = std::vector<uint8_t>;
using proto::MsgType;

Bytes pattern_bytes(size_t n, uint32_t seed) {
  Bytes b(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    b[i] = static_cast<uint8_t>(x >> 16);
  }
  return b;
}

Bytes header_bytes(MsgType type, uint32_t length) {
  Bytes h(proto::kFrameHeaderSize);
  proto::encode_header(type, length, h.data());
  return h;
}

void write_raw(int fd, const Bytes& b) { ASSERT_EQ(write_full(fd, b.data(), b.size()), 0); }

// Reads exactly n raw bytes from fd.
Bytes read_raw(int fd, size_t n) {
  Bytes b(n);
  size_t got = 0;
  EXPECT_EQ(read_full(fd, b.data(), n, &got), 0);
  EXPECT_EQ(got, n);
  b.resize(got);
  return b;
}

// A read or write that waits this long here is a bug (everything is in this
// process), so it fails with EAGAIN instead of blocking until ctest's
// 300 s timeout. A backstop only: the tests below end their streams (or
// check what is readable) so that a broken reader fails at once.
void bound_socket_waits(int fd) {
  timeval tv{};
  tv.tv_sec = 20;
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0) << std::strerror(errno);
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0) << std::strerror(errno);
}

// Bytes waiting on fd without blocking (0 when none).
size_t readable_now(int fd) {
  int n = 0;
  EXPECT_EQ(::ioctl(fd, FIONREAD, &n), 0);
  return static_cast<size_t>(n);
}

class FrameIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A writer whose peer is gone must get EPIPE, not kill the test binary.
    std::signal(SIGPIPE, SIG_IGN);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0) << std::strerror(errno);
    a_.reset(fds[0]);
    b_.reset(fds[1]);
    bound_socket_waits(a_.get());
    bound_socket_waits(b_.get());
  }
  // The test has written all it will: a reader that wants more bytes than
  // were sent (a broken length check, a wrong count) sees the end of the
  // stream and fails now, instead of waiting for bytes that never come.
  void end_of_stream() { ASSERT_EQ(::shutdown(a_.get(), SHUT_WR), 0) << std::strerror(errno); }
  // Frames go a_ -> b_.
  UniqueFd a_;
  UniqueFd b_;
};

// ---------------------------------------------------------------------------
// Round trips and counters

TEST_F(FrameIoTest, WriteReadRoundTrip) {
  FrameWriter w(a_.get());
  FrameReader r(b_.get());
  EXPECT_EQ(w.bytes_written(), 0u);
  EXPECT_EQ(r.bytes_read(), 0u);

  struct Sent {
    MsgType type;
    Bytes payload;
  };
  const std::vector<Sent> frames = {
      {MsgType::kHello, proto::encode(proto::Hello{1, proto::kFeaturesOffered, "sparsync 0.1.0"})},
      {MsgType::kHashEnd, proto::encode(proto::HashEnd{5})},
      {MsgType::kVerifyEnd, Bytes{}},  // a zero-length payload is valid framing
      {MsgType::kError, proto::encode(proto::Error{proto::ErrorCode::kTarget, "no space"})},
      {MsgType::kHash, pattern_bytes(16 + 64 * 16, 1)},
  };
  uint64_t expected_bytes = 0;
  for (const Sent& f : frames) {
    Status s = w.write(f.type, f.payload);
    ASSERT_TRUE(s.is_ok()) << s.message();
    expected_bytes += proto::kFrameHeaderSize + f.payload.size();
    EXPECT_EQ(w.bytes_written(), expected_bytes);
  }
  end_of_stream();
  uint64_t read_bytes = 0;
  Frame got;
  got.payload.assign(100, 9);  // stale contents must be replaced
  for (const Sent& f : frames) {
    Status s = r.read(&got);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(got.type, f.type);
    EXPECT_EQ(Bytes(got.payload.begin(), got.payload.end()), f.payload);
    read_bytes += proto::kFrameHeaderSize + f.payload.size();
    EXPECT_EQ(r.bytes_read(), read_bytes);
  }
  EXPECT_EQ(r.bytes_read(), w.bytes_written());
  // Nothing more than was sent: a reader that lost a frame's bytes (or made
  // some up) would have been out of step above, or finds one here.
  EXPECT_EQ(r.read(&got).kind(), ErrorKind::kConnection);
}

TEST_F(FrameIoTest, WriteDataMatchesGoldenEncoding) {
  // PROTOCOL.md §4.6 golden DATA: offset 4096, 8 image bytes.
  const Bytes golden = {0x20, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,   // header
                        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   // offset 4096
                        0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};  // bytes
  const Bytes body(golden.begin() + 16, golden.end());
  FrameWriter w(a_.get());
  Status s = w.write_data(4096, body.data(), static_cast<uint32_t>(body.size()));
  ASSERT_TRUE(s.is_ok()) << s.message();
  EXPECT_EQ(w.bytes_written(), golden.size());
  end_of_stream();
  EXPECT_EQ(read_raw(b_.get(), golden.size()), golden);
}

TEST_F(FrameIoTest, WriteDataEncodingEdgeValues) {
  FrameWriter w(a_.get());
  uint64_t total = 0;
  for (uint64_t offset : {uint64_t{0}, uint64_t{0x0102030405060708}, ~uint64_t{0}}) {
    for (uint32_t n : {1u, 3u, 4096u}) {
      Bytes body = pattern_bytes(n, n);
      ASSERT_TRUE(w.write_data(offset, body.data(), n).is_ok());
      total += 8 + 8 + n;
      EXPECT_EQ(w.bytes_written(), total);
      Bytes expected = header_bytes(MsgType::kData, 8 + n);
      ASSERT_EQ(expected[0], 0x20);
      for (int i = 0; i < 8; ++i) expected.push_back(static_cast<uint8_t>(offset >> (8 * i)));
      expected.insert(expected.end(), body.begin(), body.end());
      // A unix socket queues a write's bytes at the reader before write
      // returns: check the count first, so a short frame fails, not blocks.
      ASSERT_EQ(readable_now(b_.get()), expected.size()) << "offset " << offset << " n " << n;
      EXPECT_EQ(read_raw(b_.get(), expected.size()), expected) << "offset " << offset << " n " << n;
    }
  }
}

TEST_F(FrameIoTest, WriteDataRoundTripThroughReader) {
  FrameWriter w(a_.get());
  FrameReader r(b_.get());
  // The largest DATA frame: more than a socket buffer, so writer and reader
  // must run at once and writev must resume after partial writes.
  Bytes body = pattern_bytes(proto::kMaxDataPerFrame, 42);
  Status ws;
  std::thread writer([&] {
    ws = w.write_data(123456789, body.data(), static_cast<uint32_t>(body.size()));
    end_of_stream();
  });
  Frame f;
  Status rs = r.read(&f);
  writer.join();
  ASSERT_TRUE(ws.is_ok()) << ws.message();
  ASSERT_TRUE(rs.is_ok()) << rs.message();
  EXPECT_EQ(f.type, MsgType::kData);
  ASSERT_EQ(f.payload.size(), 8 + body.size());
  proto::DataView dv;
  ASSERT_TRUE(proto::decode(f.payload, &dv).is_ok());
  EXPECT_EQ(dv.offset, 123456789u);
  ASSERT_EQ(dv.length, body.size());
  EXPECT_EQ(0, std::memcmp(dv.bytes, body.data(), body.size()));
  EXPECT_EQ(w.bytes_written(), 8u + 8u + body.size());
  EXPECT_EQ(r.bytes_read(), w.bytes_written());
}

TEST_F(FrameIoTest, MaxPayloadFrameRoundTrip) {
  FrameWriter w(a_.get());
  FrameReader r(b_.get());
  Bytes payload = pattern_bytes(proto::kMaxPayload, 7);
  Status ws;
  std::thread writer([&] {
    ws = w.write(MsgType::kHash, payload);
    end_of_stream();
  });
  Frame f;
  Status rs = r.read(&f);
  writer.join();
  ASSERT_TRUE(ws.is_ok()) << ws.message();
  ASSERT_TRUE(rs.is_ok()) << rs.message();
  EXPECT_EQ(f.type, MsgType::kHash);
  EXPECT_EQ(Bytes(f.payload.begin(), f.payload.end()), payload);
  EXPECT_EQ(r.bytes_read(), proto::kFrameHeaderSize + payload.size());
  EXPECT_EQ(w.bytes_written(), r.bytes_read());
}

// ---------------------------------------------------------------------------
// End of stream: close vs mid-frame

TEST_F(FrameIoTest, CleanCloseBeforeAnyByte) {
  a_.reset();
  FrameReader r(b_.get());
  Frame f;
  Status s = r.read(&f);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::kConnection);
  EXPECT_NE(s.message().find("closed"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("mid-frame"), std::string::npos) << s.message();
  EXPECT_EQ(r.bytes_read(), 0u);
}

TEST_F(FrameIoTest, CleanCloseAfterWholeFrame) {
  {
    FrameWriter w(a_.get());
    ASSERT_TRUE(w.write(MsgType::kAck, proto::encode(proto::Ack{16384})).is_ok());
  }
  a_.reset();
  FrameReader r(b_.get());
  Frame f;
  ASSERT_TRUE(r.read(&f).is_ok());
  EXPECT_EQ(f.type, MsgType::kAck);
  Status s = r.read(&f);
  EXPECT_EQ(s.kind(), ErrorKind::kConnection);
  EXPECT_NE(s.message().find("closed"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("mid-frame"), std::string::npos) << s.message();
  EXPECT_EQ(r.bytes_read(), 16u);
}

TEST_F(FrameIoTest, CutInsideHeader) {
  Bytes frame = header_bytes(MsgType::kHashEnd, 8);
  write_raw(a_.get(), Bytes(frame.begin(), frame.begin() + 3));
  a_.reset();
  FrameReader r(b_.get());
  Frame f;
  Status s = r.read(&f);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::kConnection);
  EXPECT_NE(s.message().find("mid-frame"), std::string::npos) << s.message();
  EXPECT_EQ(r.bytes_read(), 0u);
}

TEST_F(FrameIoTest, CutInsidePayload) {
  Bytes payload = proto::encode(proto::Done{1, 2, 3, 4, 5, 6, 7});
  Bytes frame = header_bytes(MsgType::kDone, static_cast<uint32_t>(payload.size()));
  frame.insert(frame.end(), payload.begin(), payload.begin() + payload.size() / 2);
  write_raw(a_.get(), frame);
  a_.reset();
  FrameReader r(b_.get());
  Frame f;
  Status s = r.read(&f);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::kConnection);
  EXPECT_NE(s.message().find("mid-frame"), std::string::npos) << s.message();
  EXPECT_EQ(r.bytes_read(), 0u);
}

TEST_F(FrameIoTest, CutAfterWholeFrameThenPartialHeader) {
  FrameWriter w(a_.get());
  ASSERT_TRUE(w.write(MsgType::kCheckpoint, proto::encode(proto::Checkpoint{4096})).is_ok());
  write_raw(a_.get(), Bytes{0x31, 0x00});
  a_.reset();
  FrameReader r(b_.get());
  Frame f;
  ASSERT_TRUE(r.read(&f).is_ok());
  Status s = r.read(&f);
  EXPECT_EQ(s.kind(), ErrorKind::kConnection);
  EXPECT_NE(s.message().find("mid-frame"), std::string::npos) << s.message();
}

TEST_F(FrameIoTest, ReadErrorIsConnection) {
  FrameReader r(-1);
  Frame f;
  Status s = r.read(&f);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::kConnection);
}

TEST_F(FrameIoTest, WriteToClosedPeerIsConnection) {
  b_.reset();
  FrameWriter w(a_.get());
  Status s = w.write(MsgType::kHashEnd, proto::encode(proto::HashEnd{1}));
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::kConnection);
}

// ---------------------------------------------------------------------------
// Header checks happen before any allocation or payload read (§2 rule 1)

TEST_F(FrameIoTest, OversizedHeaderRejectedWithoutAllocating) {
  write_raw(a_.get(), header_bytes(MsgType::kData, proto::kMaxPayload + 1));
  // Some payload bytes follow; none may be consumed as a payload. Then the
  // stream ends: a reader that passed the header would wait for the rest of
  // a payload that never comes, and fail ("mid-frame") instead of hanging.
  write_raw(a_.get(), pattern_bytes(64, 1));
  end_of_stream();
  FrameReader r(b_.get());
  Frame f;
  ASSERT_EQ(f.payload.capacity(), 0u);
  Status s = r.read(&f);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::kProtocol) << s.message();
  EXPECT_LT(f.payload.capacity(), 4096u);
  EXPECT_TRUE(f.payload.empty());
  EXPECT_EQ(r.bytes_read(), 0u);
}

TEST_F(FrameIoTest, HugeLengthRejectedWithoutAllocating) {
  write_raw(a_.get(), header_bytes(MsgType::kHash, 0xffffffffu));
  end_of_stream();
  FrameReader r(b_.get());
  Frame f;
  Status s = r.read(&f);
  EXPECT_EQ(s.kind(), ErrorKind::kProtocol) << s.message();
  EXPECT_LT(f.payload.capacity(), 4096u);
}

TEST_F(FrameIoTest, BadHeaderTypeOrReservedRejected) {
  {
    write_raw(a_.get(), Bytes{0x99, 0, 0, 0, 4, 0, 0, 0});
    end_of_stream();
    FrameReader r(b_.get());
    Frame f;
    Status s = r.read(&f);
    EXPECT_EQ(s.kind(), ErrorKind::kProtocol) << s.message();
    EXPECT_TRUE(f.payload.empty());
  }
  // Non-zero reserved byte, on a fresh stream.
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  UniqueFd c(fds[0]), d(fds[1]);
  write_raw(c.get(), Bytes{0x20, 0, 1, 0, 4, 0, 0, 0});
  ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
  FrameReader r(d.get());
  Frame f;
  Status s = r.read(&f);
  EXPECT_EQ(s.kind(), ErrorKind::kProtocol) << s.message();
  EXPECT_TRUE(f.payload.empty());
}

// ---------------------------------------------------------------------------
// unexpected_frame

TEST(FrameIoUnexpected, ErrorFrameCarriesPeerCode) {
  for (proto::ErrorCode code : {proto::ErrorCode::kInternal, proto::ErrorCode::kUsage, proto::ErrorCode::kSource,
                                proto::ErrorCode::kTarget, proto::ErrorCode::kConnection, proto::ErrorCode::kProtocol,
                                proto::ErrorCode::kVerify, proto::ErrorCode::kInterrupted}) {
    Frame f;
    f.type = MsgType::kError;
    auto e = proto::encode(proto::Error{code, "no space left on device"});
    f.payload.assign(e.begin(), e.end());
    Status s = unexpected_frame(f, "SUMMARY");
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(static_cast<int>(s.kind()), static_cast<int>(code));
    EXPECT_TRUE(s.from_peer());
    EXPECT_NE(s.message().find("no space left on device"), std::string::npos) << s.message();
  }
}

TEST(FrameIoUnexpected, ErrorFrameWithUnknownCodeIsInternal) {
  Frame f;
  f.type = MsgType::kError;
  f.payload = {42, 0, 3, 0, 'w', 'h', 'y'};
  Status s = unexpected_frame(f, "HELLO");
  EXPECT_EQ(s.kind(), ErrorKind::kInternal);
  EXPECT_TRUE(s.from_peer());
  EXPECT_NE(s.message().find("why"), std::string::npos) << s.message();
}

TEST(FrameIoUnexpected, MalformedErrorFrameIsProtocol) {
  Frame f;
  f.type = MsgType::kError;
  f.payload = {4, 0, 10, 0, 'a'};  // message count 10, one byte present
  Status s = unexpected_frame(f, "HELLO");
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::kProtocol);
}

TEST(FrameIoUnexpected, OtherFrameNamesBothTypes) {
  Frame f;
  f.type = MsgType::kDone;
  auto d = proto::encode(proto::Done{});
  f.payload.assign(d.begin(), d.end());
  Status s = unexpected_frame(f, "SUMMARY");
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::kProtocol);
  EXPECT_FALSE(s.from_peer());
  EXPECT_NE(s.message().find("DONE"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("SUMMARY"), std::string::npos) << s.message();

  f.type = MsgType::kVerifyDigests;
  s = unexpected_frame(f, "HASH_END");
  EXPECT_EQ(s.kind(), ErrorKind::kProtocol);
  EXPECT_NE(s.message().find("VERIFY_DIGESTS"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("HASH_END"), std::string::npos) << s.message();
}

// ---------------------------------------------------------------------------
// Concurrent writers (§2 rule 5)

// Each frame identifies its writer and sequence number and carries bytes
// derived from both, so a frame spliced from two writers cannot pass.
TEST_F(FrameIoTest, ConcurrentWritersNeverInterleave) {
  constexpr int kThreads = 4;
  constexpr int kFramesPerThread = 120;
  // Sizes above the socket buffer force partial writev calls, where an
  // unlocked writer would interleave.
  const size_t kSizes[] = {1, 17, 4096, 65536 + 3, 300000, proto::kMaxDataPerFrame};

  FrameWriter w(a_.get());
  std::atomic<int> write_failures{0};
  std::vector<std::thread> writers;
  uint64_t expected_total = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kFramesPerThread; ++i) {
      size_t n = kSizes[(t + i) % std::size(kSizes)];
      expected_total += proto::kFrameHeaderSize + 8 + n;
    }
  }
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kFramesPerThread; ++i) {
        size_t n = kSizes[(t + i) % std::size(kSizes)];
        uint64_t id = (static_cast<uint64_t>(t) << 32) | static_cast<uint32_t>(i);
        Bytes body = pattern_bytes(n, static_cast<uint32_t>(id * 31 + n));
        Status s;
        if (i % 2 == 0) {
          s = w.write_data(id, body.data(), static_cast<uint32_t>(n));
        } else {
          Bytes payload = proto::encode_data_prefix(id);
          payload.insert(payload.end(), body.begin(), body.end());
          s = w.write(MsgType::kHash, payload);
        }
        if (!s.is_ok()) {
          ++write_failures;
          return;
        }
      }
    });
  }

  // Read everything (never stop early, so writers cannot block forever).
  FrameReader r(b_.get());
  std::vector<int> next_seq(kThreads, 0);
  int bad_frames = 0;
  Status read_status;
  for (int k = 0; k < kThreads * kFramesPerThread; ++k) {
    Frame f;
    read_status = r.read(&f);
    if (!read_status.is_ok()) break;
    if (f.payload.size() < 8) {
      ++bad_frames;
      continue;
    }
    uint64_t id = 0;
    for (int i = 0; i < 8; ++i) id |= static_cast<uint64_t>(f.payload[i]) << (8 * i);
    int t = static_cast<int>(id >> 32);
    int seq = static_cast<int>(id & 0xffffffffu);
    if (t < 0 || t >= kThreads || seq >= kFramesPerThread) {
      ++bad_frames;
      continue;
    }
    size_t n = f.payload.size() - 8;
    bool ok = seq == next_seq[t] && n == kSizes[(t + seq) % std::size(kSizes)] &&
              f.type == (seq % 2 == 0 ? MsgType::kData : MsgType::kHash);
    if (ok) {
      Bytes body = pattern_bytes(n, static_cast<uint32_t>(id * 31 + n));
      ok = std::memcmp(f.payload.data() + 8, body.data(), n) == 0;
    }
    if (!ok) ++bad_frames;
    next_seq[t] = seq + 1;
  }
  b_.reset();  // should a read have failed, unblock the writers (EPIPE)
  for (std::thread& th : writers) th.join();

  ASSERT_TRUE(read_status.is_ok()) << read_status.message();
  EXPECT_EQ(write_failures.load(), 0);
  EXPECT_EQ(bad_frames, 0);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next_seq[t], kFramesPerThread) << "writer " << t;
  EXPECT_EQ(w.bytes_written(), expected_total);
  EXPECT_EQ(r.bytes_read(), expected_total);
}

}  // namespace
}  // namespace sparsync

namespace sparsync {
namespace {

TEST_F(FrameIoTest, CoalescedSmallFramesWaitForAnAnsweredFrameAndKeepTheirOrder) {
  FrameWriter w(a_.get());
  ASSERT_TRUE(w.set_coalescing(true).is_ok());
  const Bytes a = pattern_bytes(4096, 1), b = pattern_bytes(100, 2);
  ASSERT_TRUE(w.write_data(4096, a.data(), 4096).is_ok());
  ASSERT_TRUE(w.write(MsgType::kHole, proto::encode(proto::Hole{8192, 4096})).is_ok());
  ASSERT_TRUE(w.write_data(12288, b.data(), 100).is_ok());
  EXPECT_EQ(readable_now(b_.get()), 0u) << "small DATA and HOLE frames should wait";
  // CHECKPOINT expects an ACK: it takes everything before it along.
  ASSERT_TRUE(w.write(MsgType::kCheckpoint, proto::encode(proto::Checkpoint{16384})).is_ok());
  const size_t total = 4 * proto::kFrameHeaderSize + (8 + 4096) + 16 + (8 + 100) + 8;
  EXPECT_EQ(readable_now(b_.get()), total);
  EXPECT_EQ(w.bytes_written(), total);
  end_of_stream();
  FrameReader r(b_.get());
  Frame f;
  ASSERT_TRUE(r.read(&f).is_ok());
  EXPECT_EQ(f.type, MsgType::kData);
  EXPECT_EQ(Bytes(f.payload.begin() + 8, f.payload.end()), a);
  ASSERT_TRUE(r.read(&f).is_ok());
  EXPECT_EQ(f.type, MsgType::kHole);
  ASSERT_TRUE(r.read(&f).is_ok());
  EXPECT_EQ(f.type, MsgType::kData);
  EXPECT_EQ(Bytes(f.payload.begin() + 8, f.payload.end()), b);
  ASSERT_TRUE(r.read(&f).is_ok());
  EXPECT_EQ(f.type, MsgType::kCheckpoint);
}

TEST_F(FrameIoTest, CoalescingWritesWhenFullAndLetsLargeFramesThroughInOrder) {
  // A batch is larger than a socket buffer: read everything on a thread.
  std::vector<Frame> got;
  std::thread reader([&] {
    FrameReader r(b_.get());
    Frame f;
    while (r.read(&f).is_ok()) got.push_back(f);
  });
  FrameWriter w(a_.get());
  ASSERT_TRUE(w.set_coalescing(true).is_ok());
  const Bytes small = pattern_bytes(4096, 3);
  const uint64_t frame = proto::kFrameHeaderSize + 8 + small.size();
  uint64_t sent = 0;
  while (w.bytes_written() == 0) {
    ASSERT_TRUE(w.write_data(sent * 4096, small.data(), 4096).is_ok());
    ++sent;
    ASSERT_LE(sent * frame, FrameWriter::kCoalesceBytes + frame) << "never written out";
  }
  EXPECT_GE(sent * frame, FrameWriter::kCoalesceBytes);
  EXPECT_EQ(w.bytes_written(), sent * frame);
  // One small frame waits; a large one goes at once, behind it.
  ASSERT_TRUE(w.write_data(1ull << 30, small.data(), 4096).is_ok());
  EXPECT_EQ(w.bytes_written(), sent * frame);
  const Bytes large = pattern_bytes(FrameWriter::kCoalesceFrameMax, 4);
  ASSERT_TRUE(w.write_data(2ull << 30, large.data(), static_cast<uint32_t>(large.size())).is_ok());
  EXPECT_EQ(w.bytes_written(), (sent + 1) * frame + proto::kFrameHeaderSize + 8 + large.size());
  // Off: flushes, and frames go out one by one again.
  const uint64_t before = w.bytes_written();
  ASSERT_TRUE(w.write_data(0, small.data(), 4096).is_ok());
  EXPECT_EQ(w.bytes_written(), before);
  ASSERT_TRUE(w.set_coalescing(false).is_ok());
  EXPECT_EQ(w.bytes_written(), before + frame);
  ASSERT_TRUE(w.write_data(0, small.data(), 4096).is_ok());
  EXPECT_EQ(w.bytes_written(), before + 2 * frame);
  ::shutdown(a_.get(), SHUT_WR);
  reader.join();
  ASSERT_EQ(got.size(), sent + 4);
  for (uint64_t i = 0; i < sent; ++i) ASSERT_EQ(got[i].payload[1], static_cast<uint8_t>((i * 4096) >> 8)) << i;
  EXPECT_EQ(got[sent].payload[3], 0x40) << "the frame before the large one is the one at 1 GiB";
  EXPECT_EQ(Bytes(got[sent + 1].payload.begin() + 8, got[sent + 1].payload.end()), large);
}

TEST_F(FrameIoTest, ReaderServesFramesOfEverySizeFromOneStreamWrittenAtOnce) {
  // Many frames in one write: the reader's read-ahead holds the start of the
  // next frames, including large ones that continue past its buffer.
  const size_t sizes[] = {
      0, 1, 7, 4096, FrameReader::kReadAhead - 8, FrameReader::kReadAhead, FrameReader::kReadAhead + 9, 3, 300000, 16};
  Bytes stream;
  std::vector<Bytes> payloads;
  for (size_t i = 0; i < std::size(sizes); ++i) {
    payloads.push_back(pattern_bytes(sizes[i], static_cast<uint32_t>(i + 10)));
    Bytes h = header_bytes(MsgType::kHash, static_cast<uint32_t>(sizes[i]));
    stream.insert(stream.end(), h.begin(), h.end());
    stream.insert(stream.end(), payloads.back().begin(), payloads.back().end());
  }
  std::thread writer([&] {
    write_raw(a_.get(), stream);
    a_.reset();
  });
  FrameReader r(b_.get());
  Frame f;
  for (const Bytes& p : payloads) {
    Status s = r.read(&f);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(Bytes(f.payload.begin(), f.payload.end()), p);
  }
  EXPECT_EQ(r.bytes_read(), stream.size());
  Status end = r.read(&f);
  EXPECT_EQ(end.kind(), ErrorKind::kConnection);
  writer.join();
}

}  // namespace
}  // namespace sparsync
