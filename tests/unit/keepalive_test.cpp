// Idle timeouts and keepalives at the frame layer (common/frame_io.h,
// common/keepalive.h; PROTOCOL.md §4.16) over a socketpair: the reader takes
// KEEPALIVE wherever it arrives and remembers the announced timeout; a wait
// for a peer that says nothing (between frames or inside one), or takes
// nothing, ends with a timed-out connection status; a deadline ends a wait
// with kInterrupted; the heartbeat writes KEEPALIVE into a quiet stream and
// never after ERROR.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "common/frame_io.h"
#include "common/keepalive.h"
#include "common/unique_fd.h"

namespace sparsync {
namespace {

struct IdlePair {
  IdlePair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    near.reset(sv[0]);
    far.reset(sv[1]);
  }
  UniqueFd near, far;
};

TEST(Keepalive, ReaderTakesKeepalivesAndRemembersTheTimeout) {
  IdlePair p;
  FrameWriter w(p.far.get());
  ASSERT_TRUE(w.write(proto::MsgType::kKeepalive, proto::encode(proto::Keepalive{42})).is_ok());
  ASSERT_TRUE(w.write(proto::MsgType::kAck, proto::encode(proto::Ack{4096})).is_ok());
  FrameReader r(p.near.get());
  PeerTimeout peer;
  r.accept_keepalives(&peer);
  Frame f;
  ASSERT_TRUE(r.read(&f).is_ok());
  EXPECT_EQ(f.type, proto::MsgType::kAck);
  ASSERT_TRUE(peer.known());
  EXPECT_EQ(peer.seconds(), 42u);
}

TEST(Keepalive, WithoutTheFeatureAKeepaliveIsAnOrdinaryFrame) {
  IdlePair p;
  FrameWriter w(p.far.get());
  ASSERT_TRUE(w.write(proto::MsgType::kKeepalive, proto::encode(proto::Keepalive{1})).is_ok());
  FrameReader r(p.near.get());
  Frame f;
  ASSERT_TRUE(r.read(&f).is_ok());
  EXPECT_EQ(f.type, proto::MsgType::kKeepalive) << "the caller sees it, and rejects it as unexpected";
}

TEST(Keepalive, SilentPeerTimesOutBetweenFrames) {
  IdlePair p;
  FrameReader r(p.near.get());
  r.set_timeout(1, "far-host");
  Frame f;
  Status s = r.read(&f);
  EXPECT_EQ(s.kind(), ErrorKind::kConnection);
  EXPECT_TRUE(s.timed_out());
  EXPECT_EQ(s.message(), "no data from far-host for 1 s (--timeout)");
  EXPECT_EQ(s.with_context("target").message(), s.message()) << "a timeout names its peer already";
}

TEST(Keepalive, SilentPeerTimesOutInsideAFrame) {
  IdlePair p;
  const uint8_t half[] = {0x31, 0, 0, 0, 8, 0, 0, 0, 0x00, 0x10};  // ACK header, 2 of 8 payload bytes
  ASSERT_EQ(::write(p.far.get(), half, sizeof(half)), static_cast<ssize_t>(sizeof(half)));
  FrameReader r(p.near.get());
  r.set_timeout(1, "far-host");
  Frame f;
  Status s = r.read(&f);
  EXPECT_TRUE(s.timed_out()) << s.message();
}

TEST(Keepalive, DeadlineEndsAWaitAsAnInterrupt) {
  IdlePair p;
  FrameReader r(p.near.get());
  r.set_deadline(std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
  Frame f;
  Status s = r.read(&f);
  EXPECT_EQ(s.kind(), ErrorKind::kInterrupted) << s.message();
  EXPECT_FALSE(s.timed_out());
}

TEST(Keepalive, PeerThatTakesNothingTimesOutTheWriter) {
  IdlePair p;
  FrameWriter w(p.near.get());
  w.set_timeout(1, "far-host");
  std::vector<uint8_t> payload(proto::kMaxDataPerFrame, 0x5a);
  Status s;
  // The socket's buffers fill, then a write waits for a reader that never comes.
  for (int i = 0; i < 64 && s.is_ok(); ++i) s = w.write(proto::MsgType::kData, payload);
  EXPECT_EQ(s.kind(), ErrorKind::kConnection);
  EXPECT_TRUE(s.timed_out());
  EXPECT_EQ(s.message(), "far-host took no data for 1 s (--timeout)");
}

TEST(Keepalive, HeartbeatKeepsAQuietStreamAliveAndStopsAfterError) {
  IdlePair p;
  FrameWriter w(p.near.get());
  PeerTimeout peer;
  // The peer gives up after 2 s: a keepalive every 500 ms (1 s left too
  // little room for a stall in the TSan lane under load).
  peer.announce(2);
  Heartbeat heartbeat(w, 7, peer);
  heartbeat.start();
  FrameReader r(p.far.get());
  r.set_timeout(2, "near");
  Frame f;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(r.read(&f).is_ok()) << "no keepalive within the peer's timeout";
    ASSERT_EQ(f.type, proto::MsgType::kKeepalive);
    proto::Keepalive k;
    ASSERT_TRUE(proto::decode(f.payload, &k).is_ok());
    EXPECT_EQ(k.timeout_seconds, 7u) << "each keepalive announces the sender's own timeout";
  }
  ASSERT_TRUE(w.write(proto::MsgType::kError, encode_error(Status(ErrorKind::kTarget, "full"))).is_ok());
  // Whatever keepalive was already under way, then the ERROR, then nothing.
  do {
    ASSERT_TRUE(r.read(&f).is_ok());
  } while (f.type == proto::MsgType::kKeepalive);
  EXPECT_EQ(f.type, proto::MsgType::kError);
  Status after = r.read(&f);
  EXPECT_TRUE(after.timed_out()) << "a frame after ERROR: " << proto::msg_type_name(f.type);
  heartbeat.stop();
}

}  // namespace
}  // namespace sparsync
