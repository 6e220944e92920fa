// The source session against a scripted target: the far end of a
// socketpair written frame by frame, for what a correct target never sends
// on demand (a hang-up, ERROR, a doctored SUMMARY, digests one byte off).
//
// No SUMMARY, no success (issue 15, item 17; PROTOCOL.md §4 rule S6): once
// the target has sent HASH_END, the source must still fail when the target
// fails its final flush, hangs up, or sends ERROR instead of SUMMARY, and it
// must say so with the target's kind and message, not a later check's. A
// source that took a missing SUMMARY for success would mostly be caught by
// the size check after it, with the wrong message ("target reports size 0"),
// and not at all for an empty image; so every case here checks the message,
// and each runs on an empty image too. The final flush failure itself runs
// the real target engine over a MemoryDevice whose sync fails.
//
// Digests compared in full (item 16), through the whole path that carries
// them: HASH decoding, TargetReports, the planner's index into a run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "common/block_hash.h"
#include "common/frame_io.h"
#include "common/proto/messages.h"
#include "source/source_session.h"
#include "support/fake_device.h"
#include "support/sizes.h"
#include "target/target_session.h"

namespace sparsync {
namespace summary_required {
namespace {

using testing::kKiB;
using testing::kMiB;
using testing::MemoryDevice;

constexpr uint32_t kBlock = 4096;

// Aborts the binary when a session does not end: a source waiting forever
// for a SUMMARY is one of the bugs here, and ctest would wait 300 s.
class HangGuard {
 public:
  HangGuard() : thread_([this] { watch(); }) {}
  ~HangGuard() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void watch() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(60), [&] { return done_; })) {
      std::fprintf(stderr, "source session hung waiting for its target\n");
      std::abort();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

SessionParams session_params(uint64_t size, proto::HashKind kind = proto::HashKind::kXxh3_128) {
  SessionParams p;
  p.image_size = size;
  p.block_size = kBlock;
  p.hash_kind = kind;
  return p;
}

struct PairResult {
  Status source, target;
  SyncStats source_stats;
};

// The source session against `serve`, which plays the target on the other
// end of a socketpair. Each side shuts its end down when it returns, as a
// process exit would.
PairResult run_against(Device& source, const SessionParams& params, const std::function<Status(int fd)>& serve) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0) << std::strerror(errno);
  PairResult o;
  HangGuard guard;
  std::thread target_thread([&] {
    o.target = serve(sv[1]);
    ::shutdown(sv[1], SHUT_RDWR);
  });
  {
    FrameReader in(sv[0]);
    FrameWriter out(sv[0]);
    SourceSessionResult r;
    o.source = run_source_session(source, params, in, out, &r);
    o.source_stats = r.stats;
    ::shutdown(sv[0], SHUT_RDWR);
  }
  target_thread.join();
  ::close(sv[0]);
  ::close(sv[1]);
  return o;
}

// The real target engine over `target`.
PairResult run_with_real_target(Device& source, MemoryDevice& target, const SessionParams& params,
                                uint64_t readable_size, bool known_zero) {
  return run_against(source, params, [&](int fd) {
    FrameReader in(fd);
    FrameWriter out(fd);
    TargetSessionInput input;
    input.device = &target;
    input.params = params;
    input.readable_size = readable_size;
    input.known_zero = known_zero;
    TargetSessionResult r;
    return run_target_session(input, in, out, &r);
  });
}

// What the scripted target received from the source.
struct Received {
  std::vector<proto::Hole> holes;
  std::vector<std::pair<uint64_t, uint64_t>> data;  // offset, length
  uint64_t data_bytes = 0, hole_bytes = 0;
  bool done = false;
};

// Reads the source's stream up to DONE (or its end); false when it ended
// without DONE.
bool read_until_done(FrameReader& in, Received* got) {
  Frame f;
  while (in.read(&f).is_ok()) {
    switch (f.type) {
      case proto::MsgType::kData: {
        proto::DataView d;
        if (!proto::decode(f.payload, &d).is_ok()) return false;
        got->data.emplace_back(d.offset, d.length);
        got->data_bytes += d.length;
        break;
      }
      case proto::MsgType::kHole: {
        proto::Hole h;
        if (!proto::decode(f.payload, &h).is_ok()) return false;
        got->holes.push_back(h);
        got->hole_bytes += h.length;
        break;
      }
      case proto::MsgType::kDone:
        got->done = true;
        return true;
      default:
        return false;
    }
  }
  return false;
}

// RESUME at 0, then every block reported zero, then HASH_END.
void report_all_zero(FrameWriter& out, const SessionParams& p) {
  ASSERT_TRUE(out.write(proto::MsgType::kResume, proto::encode(proto::Resume{0})).is_ok());
  if (p.total_blocks() > 0) {
    ASSERT_TRUE(out.write(proto::MsgType::kHashZero, proto::encode(proto::HashZero{0, p.total_blocks()})).is_ok());
  }
  ASSERT_TRUE(out.write(proto::MsgType::kHashEnd, proto::encode(proto::HashEnd{p.total_blocks()})).is_ok());
}

proto::Summary summary_for(const SessionParams& p, const Received& got) {
  proto::Summary s;
  s.bytes_written = got.data_bytes;
  s.bytes_zeroed = got.hole_bytes;
  s.final_size = p.image_size;
  return s;
}

// Empty, one short block, and several MiB with data and a hole at the end:
// the empty image is the one no size or byte count check can rescue.
const uint64_t kSizes[] = {0, 1000, 3 * kMiB + 5};

// Data in the first 2 MiB, a hole after.
void fill_source_image(MemoryDevice& src) {
  if (src.size() > 0) src.fill_pattern(0, std::min<uint64_t>(src.size(), 2 * kMiB), 11);
}

class SummaryRequired : public ::testing::Test {
 protected:
  void SetUp() override { ::signal(SIGPIPE, SIG_IGN); }
};

// --- the real target engine, failing its final flush ------------------------

TEST_F(SummaryRequired, FinalFlushFailureIsTheTargetsErrorNotSuccess) {
  for (uint64_t size : kSizes) {
    for (bool known_zero : {true, false}) {
      SCOPED_TRACE("size " + std::to_string(size) + (known_zero ? ", new target" : ", existing target"));
      MemoryDevice src(size, ErrorKind::kSource);
      fill_source_image(src);
      MemoryDevice dst(size, ErrorKind::kTarget);
      if (!known_zero && size > 0) dst.fill_pattern(0, size, 12);
      // No CHECKPOINT in so small a run: the first sync is the final flush.
      dst.fail_sync_call(1, EIO);
      PairResult o = run_with_real_target(src, dst, session_params(size), known_zero ? 0 : size, known_zero);
      ASSERT_FALSE(o.target.is_ok());
      EXPECT_EQ(o.target.kind(), ErrorKind::kTarget) << o.target.message();
      EXPECT_EQ(o.target.message(), std::string("cannot flush mem: ") + std::strerror(EIO));
      ASSERT_FALSE(o.source.is_ok()) << "a target that failed its final flush was reported as synced";
      EXPECT_EQ(o.source.kind(), ErrorKind::kTarget) << o.source.message();
      // The target's own words, not a size or byte-count complaint.
      EXPECT_EQ(o.source.message(), o.target.message());
      EXPECT_TRUE(o.source.from_peer());
    }
  }
}

TEST_F(SummaryRequired, ResumeAtTheEndOfAnUnalignedImageHasNothingLeftToDo) {
  // A run interrupted after its last chunk checkpoints at the image end,
  // which for an image of 3 blocks and 100 bytes is not a block boundary;
  // the next run resumes there, receives no reports, sends nothing, and
  // still needs the target's SUMMARY to succeed.
  const uint64_t size = 3 * kBlock + 100;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, size, 41);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fill(0, src.contents());
  const SessionParams p = session_params(size);
  PairResult o = run_against(src, p, [&](int fd) {
    FrameReader in(fd);
    FrameWriter out(fd);
    TargetSessionInput input;
    input.device = &dst;
    input.params = p;
    input.readable_size = size;
    input.resume_offset = size;
    TargetSessionResult r;
    return run_target_session(input, in, out, &r);
  });
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_EQ(o.source_stats.resumed_from, size);
  EXPECT_EQ(o.source_stats.bytes_scanned, 0u);
  EXPECT_EQ(o.source_stats.changed_blocks + o.source_stats.unchanged_blocks, 0u);
  EXPECT_EQ(src.reads(), 0) << "nothing below the resume point is read";
}

// --- a scripted target ------------------------------------------------------

TEST_F(SummaryRequired, HangUpAfterDoneWithoutSummaryFails) {
  for (uint64_t size : kSizes) {
    SCOPED_TRACE("size " + std::to_string(size));
    MemoryDevice src(size, ErrorKind::kSource);
    fill_source_image(src);
    const SessionParams p = session_params(size);
    Received got;
    PairResult o = run_against(src, p, [&](int fd) {
      FrameReader in(fd);
      FrameWriter out(fd);
      report_all_zero(out, p);
      read_until_done(in, &got);
      return Status::ok();  // and hang up: no SUMMARY
    });
    EXPECT_TRUE(got.done) << "the source should have finished sending";
    ASSERT_FALSE(o.source.is_ok()) << "a target that hung up without SUMMARY was reported as synced";
    EXPECT_EQ(o.source.kind(), ErrorKind::kConnection) << o.source.message();
    EXPECT_EQ(o.source.message(), "target: peer closed the connection");
  }
}

TEST_F(SummaryRequired, HangUpRightAfterHashEndFails) {
  // The target hangs up as soon as it has reported, before DONE arrives:
  // the source may notice it sending or waiting, but never as a success.
  for (uint64_t size : kSizes) {
    SCOPED_TRACE("size " + std::to_string(size));
    MemoryDevice src(size, ErrorKind::kSource);
    fill_source_image(src);
    const SessionParams p = session_params(size);
    PairResult o = run_against(src, p, [&](int fd) {
      FrameWriter out(fd);
      report_all_zero(out, p);
      return Status::ok();
    });
    ASSERT_FALSE(o.source.is_ok()) << "a target that hung up without SUMMARY was reported as synced";
    EXPECT_EQ(o.source.kind(), ErrorKind::kConnection) << o.source.message();
    EXPECT_NE(o.source.message().find("target"), std::string::npos) << o.source.message();
    EXPECT_EQ(o.source.message().find("size"), std::string::npos) << o.source.message();
  }
}

TEST_F(SummaryRequired, ErrorInsteadOfSummaryIsReportedWithTheTargetsWords) {
  const std::string why = "cannot flush /srv/vm1.img to stable storage: Input/output error";
  for (uint64_t size : kSizes) {
    SCOPED_TRACE("size " + std::to_string(size));
    MemoryDevice src(size, ErrorKind::kSource);
    fill_source_image(src);
    const SessionParams p = session_params(size);
    Received got;
    PairResult o = run_against(src, p, [&](int fd) {
      FrameReader in(fd);
      FrameWriter out(fd);
      report_all_zero(out, p);
      read_until_done(in, &got);
      return out.write(proto::MsgType::kError, proto::encode(proto::Error{proto::ErrorCode::kTarget, why}));
    });
    EXPECT_TRUE(got.done);
    ASSERT_FALSE(o.source.is_ok()) << "a target that sent ERROR instead of SUMMARY was reported as synced";
    EXPECT_EQ(o.source.kind(), ErrorKind::kTarget) << o.source.message();
    EXPECT_EQ(o.source.message(), why);
    EXPECT_TRUE(o.source.from_peer());
  }
}

TEST_F(SummaryRequired, ErrorRightAfterHashEndIsReportedWithTheTargetsWords) {
  // ERROR while the source may still be sending: the target keeps reading
  // (as the real one drains its input) so the source sees the ERROR, not a
  // broken pipe.
  const std::string why = "write error on /srv/vm1.img at offset 0: No space left on device";
  for (uint64_t size : kSizes) {
    SCOPED_TRACE("size " + std::to_string(size));
    MemoryDevice src(size, ErrorKind::kSource);
    fill_source_image(src);
    const SessionParams p = session_params(size);
    PairResult o = run_against(src, p, [&](int fd) {
      FrameReader in(fd);
      FrameWriter out(fd);
      report_all_zero(out, p);
      Status s = out.write(proto::MsgType::kError, proto::encode(proto::Error{proto::ErrorCode::kTarget, why}));
      Frame f;
      while (in.read(&f).is_ok()) {
      }
      return s;
    });
    ASSERT_FALSE(o.source.is_ok()) << "a target that sent ERROR after HASH_END was reported as synced";
    EXPECT_EQ(o.source.kind(), ErrorKind::kTarget) << o.source.message();
    EXPECT_EQ(o.source.message(), why);
  }
}

// A SUMMARY that does not vouch for what was sent is not a success either:
// each figure the source checks is wrong in turn, by one.
TEST_F(SummaryRequired, SummaryFiguresThatDisagreeFailTheRun) {
  struct Case {
    const char* what;
    void (*spoil)(proto::Summary*);
    ErrorKind kind;
    const char* message;
  };
  const Case cases[] = {
      {"final size", [](proto::Summary* s) { ++s->final_size; }, ErrorKind::kTarget, "target reports size"},
      {"final size 0", [](proto::Summary* s) { s->final_size = 0; }, ErrorKind::kTarget, "target reports size 0"},
      {"bytes written", [](proto::Summary* s) { --s->bytes_written; }, ErrorKind::kProtocol, "target applied"},
      {"bytes zeroed", [](proto::Summary* s) { ++s->bytes_zeroed; }, ErrorKind::kProtocol, "target applied"},
  };
  // 1 MiB of data, then a hole over target data, so both counts are non-zero.
  const uint64_t size = 2 * kMiB;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    MemoryDevice src(size, ErrorKind::kSource);
    src.fill_pattern(0, kMiB, 21);
    const SessionParams p = session_params(size);
    Received got;
    PairResult o = run_against(src, p, [&](int fd) {
      FrameReader in(fd);
      FrameWriter out(fd);
      // Blocks 0-255 zero, 256-511 reported as data (any digest will do).
      EXPECT_TRUE(out.write(proto::MsgType::kResume, proto::encode(proto::Resume{0})).is_ok());
      EXPECT_TRUE(out.write(proto::MsgType::kHashZero, proto::encode(proto::HashZero{0, 256})).is_ok());
      proto::Hash h{256, 256, std::vector<uint8_t>(256 * 16, 0xA5)};
      EXPECT_TRUE(out.write(proto::MsgType::kHash, proto::encode(h)).is_ok());
      EXPECT_TRUE(out.write(proto::MsgType::kHashEnd, proto::encode(proto::HashEnd{512})).is_ok());
      read_until_done(in, &got);
      proto::Summary sum = summary_for(p, got);
      c.spoil(&sum);
      return out.write(proto::MsgType::kSummary, proto::encode(sum));
    });
    EXPECT_EQ(got.data_bytes, kMiB);
    EXPECT_EQ(got.hole_bytes, kMiB);
    ASSERT_FALSE(o.source.is_ok()) << "a SUMMARY with a wrong " << c.what << " was taken as success";
    EXPECT_EQ(o.source.kind(), c.kind) << o.source.message();
    EXPECT_NE(o.source.message().find(c.message), std::string::npos) << o.source.message();
  }
}

// --- digests through the session --------------------------------------------

// The target reports every block with the source's own digest except two,
// each off in one byte (0, 8 or the last): the source must send exactly
// those two blocks as DATA. The reports come as two HASH frames, so the
// second run's digests are found relative to its own first block; and the
// source starts with a hole (over target data: a HOLE), so its first data
// chunk starts inside the first run, at that run's third digest.
TEST_F(SummaryRequired, DigestOffInOneByteIsSentAsData) {
  const uint64_t size = 12 * kBlock + 300;  // 13 blocks, the last one short
  for (auto kind : {proto::HashKind::kXxh3_128, proto::HashKind::kSha256}) {
    const size_t len = proto::hash_length(kind);
    for (size_t byte : {size_t{0}, size_t{8}, len - 1}) {
      SCOPED_TRACE((kind == proto::HashKind::kSha256 ? "SHA-256" : "XXH3-128") + std::string(", byte ") +
                   std::to_string(byte));
      MemoryDevice src(size, ErrorKind::kSource);
      src.fill_pattern(2 * kBlock, size - 2 * kBlock, 31);
      const SessionParams p = session_params(size, kind);
      const std::vector<uint8_t> bytes = src.contents();
      const std::vector<uint8_t> old_data(kBlock, 0x5A);
      std::vector<uint8_t> digests(p.total_blocks() * len);
      for (uint64_t b = 0; b < p.total_blocks(); ++b) {
        const uint8_t* block = b < 2 ? old_data.data() : bytes.data() + b * kBlock;
        digest_block(kind, block, p.block_length(b), digests.data() + b * len);
      }
      digests[3 * len + byte] ^= 0x80;   // block 3, in the first HASH frame
      digests[12 * len + byte] ^= 0x01;  // block 12, the short last one, in the second
      Received got;
      PairResult o = run_against(src, p, [&](int fd) {
        FrameReader in(fd);
        FrameWriter out(fd);
        EXPECT_TRUE(out.write(proto::MsgType::kResume, proto::encode(proto::Resume{0})).is_ok());
        proto::Hash first{0, 7, std::vector<uint8_t>(digests.begin(), digests.begin() + 7 * len)};
        proto::Hash second{7, 6, std::vector<uint8_t>(digests.begin() + 7 * len, digests.end())};
        EXPECT_TRUE(out.write(proto::MsgType::kHash, proto::encode(first)).is_ok());
        EXPECT_TRUE(out.write(proto::MsgType::kHash, proto::encode(second)).is_ok());
        EXPECT_TRUE(out.write(proto::MsgType::kHashEnd, proto::encode(proto::HashEnd{13})).is_ok());
        read_until_done(in, &got);
        return out.write(proto::MsgType::kSummary, proto::encode(summary_for(p, got)));
      });
      ASSERT_TRUE(o.source.is_ok()) << o.source.message();
      const std::vector<std::pair<uint64_t, uint64_t>> want{{3 * kBlock, kBlock}, {12 * kBlock, 300}};
      EXPECT_EQ(got.data, want);
      ASSERT_EQ(got.holes.size(), 1u);
      EXPECT_EQ(got.holes[0].offset, 0u);
      EXPECT_EQ(got.holes[0].length, 2 * kBlock);
      EXPECT_EQ(o.source_stats.changed_blocks, 4u);
      EXPECT_EQ(o.source_stats.unchanged_blocks, 9u);
      EXPECT_EQ(o.source_stats.data_bytes, kBlock + 300);
    }
  }
}

}  // namespace
}  // namespace summary_required
}  // namespace sparsync
