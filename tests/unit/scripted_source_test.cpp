// The target session against a scripted source (the far end of a socketpair
// written frame by frame): the target's side of "no DONE, no success". The
// target sends SUMMARY, and removes the record that marks it incomplete, only
// after a DONE whose figures match what it applied (PROTOCOL.md §4.10, rule
// S6). A DONE that claims other sizes or byte counts, a source that hangs up
// before DONE, or sends ERROR instead, must leave the target failed with the
// right kind and message, its checkpoint record in place, and no SUMMARY
// sent; so must a CHECKPOINT that is not a forward block boundary. A control
// run with a true DONE shows the script itself is right.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/checkpoint_store.h"
#include "common/frame_io.h"
#include "common/proto/messages.h"
#include "support/fake_device.h"
#include "support/files.h"
#include "support/sizes.h"
#include "target/target_session.h"

namespace sparsync {
namespace scripted_source {
namespace {

using testing::kKiB;
using testing::kMiB;
using testing::MemoryDevice;

constexpr uint32_t kBlock = 4096;
constexpr uint64_t kImage = kMiB;

// What the source sends after the reports, and what it got back.
struct Script {
  std::function<void(proto::Done*)> spoil_done;  // null: a true DONE
  bool hang_up_before_done = false;
  std::string error_instead_of_done;  // non-empty: ERROR (source code) instead of DONE
  std::vector<uint64_t> checkpoints;  // CHECKPOINTs sent after the DATA and HOLE
};

struct Answer {
  bool saw_hash_end = false;
  std::optional<proto::MsgType> reply;  // the frame after DONE, if any
  std::string error_message;
};

// Plays the source: waits for the target's reports, sends 256 KiB of DATA
// and a 64 KiB HOLE, then ends as the script says.
Answer play_source(int fd, const Script& script) {
  Answer a;
  FrameReader in(fd);
  FrameWriter out(fd);
  Frame f;
  while (in.read(&f).is_ok()) {
    if (f.type == proto::MsgType::kHashEnd) {
      a.saw_hash_end = true;
      break;
    }
  }
  if (!a.saw_hash_end) return a;
  const std::vector<uint8_t> bytes = testing::pattern_bytes(5, 0, 256 * kKiB);
  EXPECT_TRUE(out.write_data(0, bytes.data(), static_cast<uint32_t>(bytes.size())).is_ok());
  EXPECT_TRUE(out.write(proto::MsgType::kHole, proto::encode(proto::Hole{512 * kKiB, 64 * kKiB})).is_ok());
  for (uint64_t at : script.checkpoints) {
    EXPECT_TRUE(out.write(proto::MsgType::kCheckpoint, proto::encode(proto::Checkpoint{at})).is_ok());
  }
  if (script.hang_up_before_done) return a;
  if (!script.error_instead_of_done.empty()) {
    EXPECT_TRUE(out.write(proto::MsgType::kError,
                          proto::encode(proto::Error{proto::ErrorCode::kSource, script.error_instead_of_done}))
                    .is_ok());
    return a;
  }
  proto::Done done{kImage, kImage, 256 * kKiB, 256 * kKiB, 64 * kKiB, 256 - 80, 80};
  if (script.spoil_done) script.spoil_done(&done);
  EXPECT_TRUE(out.write(proto::MsgType::kDone, proto::encode(done)).is_ok());
  // Whatever comes next: SUMMARY, or ERROR with the target's reason.
  while (in.read(&f).is_ok()) {
    if (f.type == proto::MsgType::kAck) continue;
    a.reply = f.type;
    if (f.type == proto::MsgType::kError) {
      proto::Error e;
      if (proto::decode(f.payload, &e).is_ok()) a.error_message = e.message;
    }
    break;
  }
  return a;
}

class ScriptedSource : public ::testing::Test {
 protected:
  void SetUp() override { ::signal(SIGPIPE, SIG_IGN); }

  // Runs the real target engine over a new MemoryDevice against the script.
  Status run(const Script& script, Answer* answer) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0) << std::strerror(errno);
    std::thread source([&] {
      *answer = play_source(sv[0], script);
      ::shutdown(sv[0], SHUT_RDWR);
    });
    TargetSessionInput input;
    input.device = &dst_;
    input.params.image_size = kImage;
    input.params.block_size = kBlock;
    input.known_zero = true;
    auto place = record_place_at(record_);
    EXPECT_TRUE(place.is_ok()) << place.status().message();
    if (!place.is_ok()) return place.status();
    // The record open_target would have left, marking the target incomplete.
    EXPECT_TRUE(
        save_checkpoint(place.value(), CheckpointRecord{"mem:src", kImage, kBlock, proto::HashKind::kXxh3_128, 0, 0})
            .is_ok());
    input.record = &place.value();
    input.checkpoint = CheckpointRecord{"mem:src", kImage, kBlock, proto::HashKind::kXxh3_128, 0, 0};
    Status s;
    {
      FrameReader in(sv[1]);
      FrameWriter out(sv[1]);
      TargetSessionResult r;
      s = run_target_session(input, in, out, &r);
      ::shutdown(sv[1], SHUT_RDWR);
    }
    source.join();
    ::close(sv[0]);
    ::close(sv[1]);
    return s;
  }

  // The target must still say it is incomplete, and not have answered DONE.
  void expect_incomplete(const Answer& a) {
    EXPECT_TRUE(a.saw_hash_end);
    EXPECT_NE(a.reply, std::optional<proto::MsgType>(proto::MsgType::kSummary)) << "SUMMARY after a bad end";
    EXPECT_TRUE(testing::exists(record_)) << "the checkpoint record went, so the target looks complete";
  }

  testing::TempDir dir_;
  std::string record_ = dir_.file(".dst.sparsync-checkpoint");
  MemoryDevice dst_{kImage, ErrorKind::kTarget};
};

TEST_F(ScriptedSource, TrueDoneGetsSummaryAndRemovesTheRecord) {
  Answer a;
  Status s = run(Script{}, &a);
  ASSERT_TRUE(s.is_ok()) << s.message();
  EXPECT_EQ(a.reply, std::optional<proto::MsgType>(proto::MsgType::kSummary));
  EXPECT_FALSE(testing::exists(record_));
}

TEST_F(ScriptedSource, DoneWithOtherFiguresFailsWithoutSummary) {
  struct Case {
    const char* what;
    std::function<void(proto::Done*)> spoil;
    const char* message;
  };
  const Case cases[] = {
      {"final size", [](proto::Done* d) { ++d->final_size; }, "source finished at size"},
      {"data bytes", [](proto::Done* d) { --d->data_bytes; }, "source says it sent"},
      {"hole bytes", [](proto::Done* d) { ++d->hole_bytes; }, "source says it sent"},
      {"no hole bytes", [](proto::Done* d) { d->hole_bytes = 0; }, "source says it sent"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Answer a;
    Status s = run(Script{c.spoil, false, ""}, &a);
    ASSERT_FALSE(s.is_ok()) << "a DONE with the wrong " << c.what << " was accepted";
    EXPECT_EQ(s.kind(), ErrorKind::kProtocol) << s.message();
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
    EXPECT_EQ(a.reply, std::optional<proto::MsgType>(proto::MsgType::kError));
    EXPECT_EQ(a.error_message, s.message());
    expect_incomplete(a);
  }
}

TEST_F(ScriptedSource, HangUpBeforeDoneFails) {
  Answer a;
  Status s = run(Script{nullptr, true, ""}, &a);
  ASSERT_FALSE(s.is_ok()) << "a source that hung up before DONE left a target reported complete";
  EXPECT_EQ(s.kind(), ErrorKind::kConnection) << s.message();
  EXPECT_EQ(s.message(), "source: peer closed the connection");
  expect_incomplete(a);
}

TEST_F(ScriptedSource, ErrorInsteadOfDoneIsTheSourcesError) {
  const std::string why = "read error on /srv/vm1.img at offset 4096: Input/output error";
  Answer a;
  Status s = run(Script{nullptr, false, why}, &a);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::kSource) << s.message();
  EXPECT_EQ(s.message(), why);
  EXPECT_TRUE(s.from_peer());
  expect_incomplete(a);
}

TEST_F(ScriptedSource, CheckpointThatIsNotAForwardBlockBoundaryFailsTheRun) {
  // A record vouches for everything below it, so it only ever moves
  // forward, on a block boundary (or the image end) inside the image.
  struct Case {
    const char* what;
    std::vector<uint64_t> checkpoints;
  };
  const Case cases[] = {
      {"backwards", {512 * kKiB, 256 * kKiB}},
      {"inside a block", {256 * kKiB + 1}},
      {"past the image end", {kImage + kBlock}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Answer a;
    Status s = run(Script{nullptr, false, "", c.checkpoints}, &a);
    ASSERT_FALSE(s.is_ok()) << "a CHECKPOINT " << c.what << " was accepted";
    EXPECT_EQ(s.kind(), ErrorKind::kProtocol) << s.message();
    EXPECT_NE(s.message().find("source sent CHECKPOINT at offset " + std::to_string(c.checkpoints.back())),
              std::string::npos)
        << s.message();
    expect_incomplete(a);
  }
}

}  // namespace
}  // namespace scripted_source
}  // namespace sparsync
