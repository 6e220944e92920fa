// Lanes (PROTOCOL.md §4.15) without SSH: the server's LaneReader putting a
// striped stream back together, its LaneListener accepting only lanes with
// the session's token, and the codecs of LANES, LANES_START and the preamble.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "common/frame_io.h"
#include "common/proto/frame_codec.h"
#include "transport/lane_count.h"
#include "transport/lane_listener.h"
#include "transport/lane_reader.h"

namespace sparsync {
namespace {

using Bytes = std::vector<uint8_t>;

// N socketpairs: writers[i] is the client's end of lane i, readers[i] the server's.
struct Lanes {
  explicit Lanes(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      int sv[2];
      EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
      writers.emplace_back(sv[0]);
      readers.emplace_back(sv[1]);
    }
  }
  std::vector<UniqueFd> writers, readers;
};

void write_bytes(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    ASSERT_GT(w, 0);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void send_segment(int fd, const uint8_t* p, uint32_t n) {
  uint8_t h[4];
  encode_segment_header(n, h);
  write_bytes(fd, h, 4);
  write_bytes(fd, p, n);
}

Bytes frames_stream(std::vector<std::pair<proto::MsgType, Bytes>>* frames) {
  Bytes out;
  for (size_t i = 0; i < 40; ++i) {
    Bytes payload(i * 9173 % 70000);
    for (size_t k = 0; k < payload.size(); ++k) payload[k] = static_cast<uint8_t>(k * 7 + i);
    frames->push_back({proto::MsgType::kHole, payload});
    uint8_t h[proto::kFrameHeaderSize];
    proto::encode_header(proto::MsgType::kHole, static_cast<uint32_t>(payload.size()), h);
    out.insert(out.end(), h, h + sizeof h);
    out.insert(out.end(), payload.begin(), payload.end());
  }
  return out;
}

TEST(LaneReader, ReassemblesFramesStripedOverLanesInSegmentsOfAnySize) {
  std::vector<std::pair<proto::MsgType, Bytes>> frames;
  Bytes stream = frames_stream(&frames);
  Lanes lanes(3);
  std::thread writer([&] {
    const uint32_t sizes[] = {1, 7, 65536, 3, 100000, 4096, 12};
    size_t pos = 0, k = 0;
    while (pos < stream.size()) {
      uint32_t n = static_cast<uint32_t>(std::min<size_t>(sizes[k % 7], stream.size() - pos));
      send_segment(lanes.writers[k % 3].get(), stream.data() + pos, n);
      pos += n;
      ++k;
    }
    for (UniqueFd& w : lanes.writers) w.reset();
  });
  LaneReader reader(std::move(lanes.readers));
  FrameReader in(&reader);
  Frame f;
  for (const auto& [type, payload] : frames) {
    ASSERT_TRUE(in.read(&f).is_ok());
    EXPECT_EQ(f.type, type);
    ASSERT_EQ(Bytes(f.payload.begin(), f.payload.end()), payload);
  }
  // All lanes closed where a segment would start: the peer closed cleanly.
  Status end = in.read(&f);
  EXPECT_EQ(end.kind(), ErrorKind::kConnection);
  EXPECT_NE(end.message().find("peer closed the connection"), std::string::npos) << end.message();
  writer.join();
}

// Writes `bytes` from *sent on to `fd` unless that takes longer than `limit`
// (the fd is made non-blocking); true when it all went.
bool write_within(int fd, const Bytes& bytes, size_t* sent, std::chrono::seconds limit) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (*sent < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + *sent, bytes.size() - *sent);
    if (w > 0) {
      *sent += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno != EAGAIN) return false;
    if (std::chrono::steady_clock::now() > deadline) return false;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, 50);
  }
  return true;
}

// sshd forwards each lane to its own socket: a lane nobody reads until its
// turn fills that socket and keeps sshd retrying (3x its CPU with 16 lanes).
// So the reader takes in a later lane's segment while it waits for the
// current one: here segment 1 (lane 1, more than a socket buffer holds) is
// written in full before segment 0 (lane 0) is sent at all.
TEST(LaneReader, ReadsLaterLanesAheadWhileWaitingForTheCurrentOne) {
  Lanes lanes(2);
  Bytes first(4096, 0x11), second(kLaneHold - 4, 0);
  for (size_t i = 0; i < second.size(); ++i) second[i] = static_cast<uint8_t>(i * 13 + 5);
  Bytes lane1(4), lane0(4);
  encode_segment_header(static_cast<uint32_t>(second.size()), lane1.data());
  lane1.insert(lane1.end(), second.begin(), second.end());
  encode_segment_header(static_cast<uint32_t>(first.size()), lane0.data());
  lane0.insert(lane0.end(), first.begin(), first.end());
  bool lane1_went = false;
  std::thread writer([&] {
    size_t sent = 0;
    lane1_went = write_within(lanes.writers[1].get(), lane1, &sent, std::chrono::seconds(5));
    // Sent even when lane 1 stalled, so a reader without read-ahead fails
    // this test instead of hanging it.
    write_bytes(lanes.writers[0].get(), lane0.data(), lane0.size());
    if (!lane1_went) write_within(lanes.writers[1].get(), lane1, &sent, std::chrono::seconds(60));
    for (UniqueFd& w : lanes.writers) w.reset();
  });
  LaneReader reader(std::move(lanes.readers));
  Bytes got(first.size() + second.size());
  size_t n = 0;
  EXPECT_EQ(reader.read_full(got.data(), got.size(), &n), 0);
  writer.join();
  EXPECT_TRUE(lane1_went) << "lane 1 stalled while the reader waited for lane 0: no read-ahead";
  ASSERT_EQ(n, got.size());
  EXPECT_TRUE(std::equal(first.begin(), first.end(), got.begin()));
  EXPECT_TRUE(std::equal(second.begin(), second.end(), got.begin() + static_cast<ptrdiff_t>(first.size())));
  uint8_t more = 0;
  EXPECT_EQ(reader.read_full(&more, 1, &n), 0);
  EXPECT_EQ(n, 0u) << "both lanes ended where a segment would start";
}

TEST(LaneReader, TruncatedSegmentIsAnError) {
  Lanes lanes(2);
  uint8_t h[4];
  encode_segment_header(100, h);
  write_bytes(lanes.writers[0].get(), h, 4);
  Bytes half(50, 1);
  write_bytes(lanes.writers[0].get(), half.data(), half.size());
  lanes.writers.clear();
  LaneReader reader(std::move(lanes.readers));
  uint8_t buf[100];
  size_t got = 0;
  EXPECT_EQ(reader.read_full(buf, sizeof buf, &got), EPROTO);
  EXPECT_EQ(got, 50u);
}

TEST(LaneReader, ZeroOrOversizedSegmentLengthIsAnError) {
  for (uint32_t bad : {0u, proto::kMaxLaneSegment + 1}) {
    Lanes lanes(2);
    uint8_t h[4];
    encode_segment_header(bad, h);
    write_bytes(lanes.writers[0].get(), h, 4);
    lanes.writers.clear();
    LaneReader reader(std::move(lanes.readers));
    uint8_t buf[8];
    size_t got = 0;
    EXPECT_EQ(reader.read_full(buf, sizeof buf, &got), EPROTO) << bad;
    EXPECT_EQ(got, 0u);
  }
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// A fresh listener (handed to `owner` when given), what it offers, and the
// directory its socket lives in.
struct Listening {
  std::unique_ptr<LaneListener> listener;
  proto::Lanes offer;
  std::string dir;
  struct stat dir_stat {};
};
void listen_for_lanes(std::optional<LaneOwner> owner, Listening* l) {
  auto created = LaneListener::create(owner);
  ASSERT_TRUE(created.is_ok()) << created.status().message();
  l->listener = created.take();
  l->offer = l->listener->offer();
  l->dir = l->offer.path.substr(0, l->offer.path.rfind('/'));
  ASSERT_EQ(::stat(l->dir.c_str(), &l->dir_stat), 0);
}

// Connects to the listener's socket and sends a preamble.
UniqueFd join_lane(const std::string& path, const proto::LanePreamble& p) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = unix_address(path);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  Bytes bytes = proto::encode(p);
  write_bytes(fd.get(), bytes.data(), bytes.size());
  return fd;
}

TEST(LaneListener, AcceptsLanesWithTheTokenInIndexOrderAndRemovesItsSocket) {
  Listening l;
  ASSERT_NO_FATAL_FAILURE(listen_for_lanes(std::nullopt, &l));
  const std::unique_ptr<LaneListener>& listener = l.listener;
  const proto::Lanes& offer = l.offer;
  const std::string& dir = l.dir;
  EXPECT_EQ(l.dir_stat.st_mode & 0777, 0700u) << "only this user may reach the lane socket";

  proto::LanePreamble wrong{offer.token, 0, 2};
  wrong.token[0] ^= 1;
  UniqueFd intruder = join_lane(offer.path, wrong);
  UniqueFd second = join_lane(offer.path, proto::LanePreamble{offer.token, 1, 2});
  UniqueFd first = join_lane(offer.path, proto::LanePreamble{offer.token, 0, 2});
  write_bytes(first.get(), reinterpret_cast<const uint8_t*>("A"), 1);
  write_bytes(second.get(), reinterpret_cast<const uint8_t*>("B"), 1);

  auto accepted = listener->accept_lanes(2, 10);
  ASSERT_TRUE(accepted.is_ok()) << accepted.status().message();
  std::vector<UniqueFd> lanes = accepted.take();
  ASSERT_EQ(lanes.size(), 2u);
  char c = 0;
  ASSERT_EQ(::read(lanes[0].get(), &c, 1), 1);
  EXPECT_EQ(c, 'A');
  ASSERT_EQ(::read(lanes[1].get(), &c, 1), 1);
  EXPECT_EQ(c, 'B');
  EXPECT_NE(::access(offer.path.c_str(), F_OK), 0) << "socket left behind";
  EXPECT_NE(::access(dir.c_str(), F_OK), 0) << "directory left behind";
  // The intruder's connection was dropped: it reads EOF.
  EXPECT_EQ(::read(intruder.get(), &c, 1), 0);
}

// Forks a process that becomes `uid`/`gid` and tries to join a lane at
// `path` with `preamble` (then sends "Z"); returns its exit status: 0 joined, 1 connect
// refused (errno in *err), 2 could not change user. Only syscalls after fork.
int join_as(uid_t uid, gid_t gid, const std::string& path, const Bytes& preamble, int* err) {
  int report[2];
  if (::pipe(report) != 0) return -1;
  sockaddr_un addr = unix_address(path);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(2);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      int e = errno;
      (void)!::write(report[1], &e, sizeof e);
      ::_exit(1);
    }
    (void)!::write(fd, preamble.data(), preamble.size());
    (void)!::write(fd, "Z", 1);
    ::_exit(0);
  }
  ::close(report[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  *err = 0;
  (void)!::read(report[0], err, sizeof *err);
  ::close(report[0]);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Under --sudo the lanes come from the login user's sshd, not from root.
TEST(LaneListener, HandedToTheSudoCallerWhoCanJoinWhereOthersCannot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  const uid_t nobody = 65534;
  {
    // Without an owner, another user cannot even reach the socket.
    auto plain = LaneListener::create();
    ASSERT_TRUE(plain.is_ok()) << plain.status().message();
    int err = 0;
    EXPECT_EQ(join_as(nobody, nobody, plain.value()->offer().path,
                      proto::encode(proto::LanePreamble{plain.value()->offer().token, 0, 2}), &err),
              1);
    EXPECT_EQ(err, EACCES) << std::strerror(err);
  }
  Listening l;
  ASSERT_NO_FATAL_FAILURE(listen_for_lanes(LaneOwner{nobody, nobody}, &l));
  const std::unique_ptr<LaneListener>& listener = l.listener;
  const proto::Lanes& offer = l.offer;
  EXPECT_EQ(l.dir_stat.st_uid, nobody);
  EXPECT_EQ(l.dir_stat.st_mode & 0777, 0700u) << "only the sudo caller may reach the lane socket";
  struct stat st {};
  ASSERT_EQ(::stat(offer.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody);
  int err = 0;
  for (uint16_t i = 0; i < 2; ++i) {
    ASSERT_EQ(join_as(nobody, nobody, offer.path, proto::encode(proto::LanePreamble{offer.token, i, 2}), &err), 0)
        << std::strerror(err);
  }
  auto accepted = listener->accept_lanes(2, 10);
  ASSERT_TRUE(accepted.is_ok()) << accepted.status().message();
  for (const UniqueFd& lane : accepted.value()) {
    char c = 0;
    ASSERT_EQ(::read(lane.get(), &c, 1), 1);
    EXPECT_EQ(c, 'Z');
  }
}

// Restores an environment variable when it goes out of scope.
class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    const char* v = std::getenv(name);
    if (v != nullptr) old_ = v;
  }
  ~EnvGuard() { old_ ? (void)::setenv(name_, old_->c_str(), 1) : (void)::unsetenv(name_); }
  void set(const char* value) { value ? (void)::setenv(name_, value, 1) : (void)::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(SudoCaller, ReadFromSudosVariablesOnlyWhenTheyNameAnotherUser) {
  EnvGuard uid("SUDO_UID"), gid("SUDO_GID");
  uid.set(nullptr);
  gid.set(nullptr);
  EXPECT_FALSE(sudo_caller().has_value()) << "not run through sudo";
  const std::string other = std::to_string(::geteuid() == 4242 ? 4243 : 4242);
  uid.set(other.c_str());
  gid.set("77");
  auto caller = sudo_caller();
  ASSERT_TRUE(caller.has_value());
  EXPECT_EQ(std::to_string(caller->uid), other);
  EXPECT_EQ(caller->gid, 77u);
  const std::string self = std::to_string(::geteuid());
  uid.set(self.c_str());
  EXPECT_FALSE(sudo_caller().has_value()) << "sudo to oneself: nothing to hand over";
  for (const char* bad : {"", "12x", "-1", "99999999999"}) {
    uid.set(bad);
    EXPECT_FALSE(sudo_caller().has_value()) << "SUDO_UID='" << bad << "'";
  }
  uid.set(other.c_str());
  gid.set(nullptr);
  EXPECT_FALSE(sudo_caller().has_value()) << "no SUDO_GID";
}

TEST(LaneListener, MissingLanesFailAfterTheWaitAndNameTheFallback) {
  auto created = LaneListener::create();
  ASSERT_TRUE(created.is_ok()) << created.status().message();
  std::unique_ptr<LaneListener> listener = created.take();
  UniqueFd only = join_lane(listener->offer().path, proto::LanePreamble{listener->offer().token, 0, 2});
  auto accepted = listener->accept_lanes(2, 0.3);
  ASSERT_FALSE(accepted.is_ok());
  EXPECT_EQ(accepted.status().kind(), ErrorKind::kConnection);
  EXPECT_NE(accepted.status().message().find("1 of 2 lanes"), std::string::npos) << accepted.status().message();
  EXPECT_NE(accepted.status().message().find("--lanes 1"), std::string::npos) << accepted.status().message();
}

TEST(LaneCodecs, RoundTripAndRejectBadCounts) {
  proto::Lanes lanes;
  for (size_t i = 0; i < lanes.token.size(); ++i) lanes.token[i] = static_cast<uint8_t>(i * 17);
  lanes.path = "/run/user/1000/sparsync-lanes-abc/s";
  proto::Lanes back;
  ASSERT_TRUE(proto::decode(proto::encode(lanes), &back).is_ok());
  EXPECT_EQ(back.token, lanes.token);
  EXPECT_EQ(back.path, lanes.path);

  proto::LanesStart start;
  for (uint16_t ok : {uint16_t{0}, uint16_t{2}, uint16_t{64}}) {
    ASSERT_TRUE(proto::decode(proto::encode(proto::LanesStart{ok}), &start).is_ok()) << ok;
    EXPECT_EQ(start.count, ok);
  }
  for (uint16_t bad : {uint16_t{1}, uint16_t{65}}) {
    EXPECT_EQ(proto::decode(proto::encode(proto::LanesStart{bad}), &start).kind(), ErrorKind::kProtocol) << bad;
  }

  proto::LanePreamble p;
  ASSERT_TRUE(proto::decode(proto::encode(proto::LanePreamble{lanes.token, 3, 4}), &p).is_ok());
  EXPECT_EQ(p.index, 3);
  EXPECT_EQ(p.count, 4);
  EXPECT_FALSE(proto::decode(proto::encode(proto::LanePreamble{lanes.token, 4, 4}), &p).is_ok());
  EXPECT_FALSE(proto::decode(proto::encode(proto::LanePreamble{lanes.token, 0, 1}), &p).is_ok());
}

TEST(LaneCount, OneChannelOnALanAllOfThemOnALongLink) {
  EXPECT_EQ(lanes_for_round_trip(0.0002, 16), 0);  // loopback
  EXPECT_EQ(lanes_for_round_trip(0.0013, 16), 0);  // loopback through sshd, target created
  EXPECT_EQ(lanes_for_round_trip(0.004, 16), 2);
  EXPECT_EQ(lanes_for_round_trip(0.010, 16), 5);
  EXPECT_EQ(lanes_for_round_trip(0.050, 16), 16);
  EXPECT_EQ(lanes_for_round_trip(0.300, 16), 16);
  EXPECT_EQ(lanes_for_round_trip(0.050, 4), 4);
}

}  // namespace
}  // namespace sparsync
