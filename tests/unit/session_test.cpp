// Source and target sessions talking over a socketpair, with in-memory
// devices (tests/support/fake_device.h): no processes, no files.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "source/source_session.h"
#include "support/fake_device.h"
#include "support/files.h"
#include "support/sizes.h"
#include "target/target_session.h"

namespace sparsync {
namespace {

using testing::DeviceOp;
using testing::kKiB;
using testing::kMiB;
using testing::MemoryDevice;

constexpr uint32_t kBs = 4096;

struct Outcome {
  Status source, target;
  SyncStats source_stats, target_stats;
};

// Aborts the test binary if a session pair does not finish: a hang is a bug,
// and ctest would otherwise wait for its own timeout.
class Watchdog {
 public:
  explicit Watchdog(const char* what) : what_(what), thread_([this] { watch(); }) {}
  ~Watchdog() {
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
      std::fprintf(stderr, "session pair hung: %s\n", what_);
      std::abort();
    }
  }
  const char* what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Runs both sessions. Each side's socket is shut down when its session
// returns, as the process exit would close its end of the pipe or channel.
Outcome run_pair(Device& source, MemoryDevice* target, SessionParams params, uint64_t readable_size, bool known_zero) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Outcome o;
  Watchdog watchdog(::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::thread target_thread([&] {
    FrameReader in(sv[1]);
    FrameWriter out(sv[1]);
    TargetSessionInput input;
    input.device = target;
    input.params = params;
    input.readable_size = readable_size;
    input.known_zero = known_zero;
    TargetSessionResult r;
    o.target = run_target_session(input, in, out, &r);
    o.target_stats = r.stats;
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

SessionParams params(uint64_t size, proto::HashKind kind = proto::HashKind::kXxh3_128, bool dry_run = false) {
  SessionParams p;
  p.image_size = size;
  p.block_size = kBs;
  p.hash_kind = kind;
  p.dry_run = dry_run;
  return p;
}

// Writes and zeroes the target performed, without syncs.
std::vector<DeviceOp> changes(const MemoryDevice& dev) {
  std::vector<DeviceOp> out;
  for (const DeviceOp& op : dev.ops())
    if (op.kind == DeviceOp::kWrite || op.kind == DeviceOp::kZero) out.push_back(op);
  return out;
}

std::string describe(const std::vector<DeviceOp>& ops) {
  std::string s;
  for (const auto& op : ops) s += testing::to_string(op) + " ";
  return s;
}

bool synced_after_last_change(const MemoryDevice& dev) {
  auto ops = dev.ops();
  for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
    if (it->kind == DeviceOp::kSync) return true;
    if (it->kind == DeviceOp::kWrite || it->kind == DeviceOp::kZero) return false;
  }
  return false;
}

class Session : public ::testing::Test {
 protected:
  void SetUp() override { ::signal(SIGPIPE, SIG_IGN); }
};

TEST_F(Session, FirstCloneSendsOnlyDataBlocks) {
  const uint64_t size = kMiB + 1000;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, 8 * kKiB, 1);                         // blocks 0-1
  src.fill_pattern(64 * kKiB, 4 * kKiB + 10, 2);            // block 16 and 10 bytes of 17
  src.fill(128 * kKiB, std::vector<uint8_t>(8 * kKiB, 0));  // allocated zeros: no DATA
  src.fill_pattern(kMiB, 1000, 3);                          // the short last block
  MemoryDevice dst(size, ErrorKind::kTarget);
  Outcome o = run_pair(src, &dst, params(size), 0, true);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_TRUE(dst.contents() == src.contents());
  const SyncStats& s = o.source_stats;
  EXPECT_EQ(s.bytes_scanned, size);
  EXPECT_EQ(s.data_bytes, 8 * kKiB + 8 * kKiB + 1000);
  EXPECT_EQ(s.hole_bytes, 0u);
  EXPECT_EQ(s.changed_blocks, 5u);
  EXPECT_EQ(s.unchanged_blocks, 257u - 5u);
  EXPECT_EQ(s.target_bytes_written, s.data_bytes);
  EXPECT_EQ(s.target_bytes_hashed, 0u);  // a new target is never read
  // Holes of the source are never read.
  EXPECT_LE(s.bytes_read, 24 * kKiB + 1000);
  std::vector<DeviceOp> want{
      {DeviceOp::kWrite, 0, 8 * kKiB}, {DeviceOp::kWrite, 64 * kKiB, 8 * kKiB}, {DeviceOp::kWrite, kMiB, 1000}};
  EXPECT_EQ(changes(dst), want) << describe(changes(dst));
  EXPECT_TRUE(synced_after_last_change(dst));
  // The target's view of the counters agrees.
  EXPECT_EQ(o.target_stats.data_bytes, s.data_bytes);
  EXPECT_EQ(o.target_stats.target_bytes_written, s.data_bytes);
}

class Incremental : public Session, public ::testing::WithParamInterface<proto::HashKind> {};

TEST_P(Incremental, SendsExactlyTheChanges) {
  const uint64_t size = 2 * kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, size, 9);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fill(0, src.contents());
  // Changes: one byte in block 5; blocks 20-21 become zeros (written);
  // blocks 100-103 become a hole; block 511 (last) fully rewritten.
  src.fill(5 * kBs + 17, {0x00});
  src.fill(20 * kBs, std::vector<uint8_t>(2 * kBs, 0));
  ASSERT_TRUE(src.zero_range(100 * kBs, 4 * kBs).is_ok());
  src.fill_pattern(511 * kBs, kBs, 77);
  Outcome o = run_pair(src, &dst, params(size, GetParam()), size, false);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_TRUE(dst.contents() == src.contents());
  const SyncStats& s = o.source_stats;
  EXPECT_EQ(s.data_bytes, 2 * kBs);
  EXPECT_EQ(s.hole_bytes, 6 * kBs);
  EXPECT_EQ(s.changed_blocks, 8u);
  EXPECT_EQ(s.unchanged_blocks, 512u - 8u);
  EXPECT_EQ(s.target_bytes_hashed, size);
  std::vector<DeviceOp> want{{DeviceOp::kWrite, 5 * kBs, kBs},
                             {DeviceOp::kZero, 20 * kBs, 2 * kBs},
                             {DeviceOp::kZero, 100 * kBs, 4 * kBs},
                             {DeviceOp::kWrite, 511 * kBs, kBs}};
  EXPECT_EQ(changes(dst), want) << describe(changes(dst));
  EXPECT_TRUE(synced_after_last_change(dst));
}

INSTANTIATE_TEST_SUITE_P(HashKinds, Incremental,
                         ::testing::Values(proto::HashKind::kXxh3_128, proto::HashKind::kSha256));

TEST_F(Session, NoChangeSendsNothing) {
  const uint64_t size = 3 * kMiB + 5;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, kMiB, 4);
  src.fill_pattern(2 * kMiB, kMiB + 5, 5);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fill(0, src.contents());
  Outcome o = run_pair(src, &dst, params(size), size, false);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_EQ(o.source_stats.data_bytes, 0u);
  EXPECT_EQ(o.source_stats.hole_bytes, 0u);
  EXPECT_EQ(o.source_stats.changed_blocks, 0u);
  EXPECT_EQ(o.source_stats.unchanged_blocks, (size + kBs - 1) / kBs);
  EXPECT_TRUE(changes(dst).empty()) << describe(changes(dst));
}

TEST_F(Session, SourceHoleOverTargetDataIsZeroedAndStaysSparse) {
  const uint64_t size = kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, 4 * kKiB, 1);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fill_pattern(0, size, 1);
  Outcome o = run_pair(src, &dst, params(size), size, false);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_TRUE(dst.contents() == src.contents());
  EXPECT_EQ(o.source_stats.data_bytes, 0u);
  EXPECT_EQ(o.source_stats.hole_bytes, size - 4 * kKiB);
  std::vector<DeviceOp> want{{DeviceOp::kZero, 4 * kKiB, size - 4 * kKiB}};
  EXPECT_EQ(changes(dst), want) << describe(changes(dst));
  EXPECT_EQ(dst.allocated_bytes(), 4 * kKiB);
}

TEST_F(Session, ExtendedTargetTailCountsAsZeros) {
  // The target file held only the first 256 KiB (it was grown to the size).
  const uint64_t size = kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, size, 6);
  MemoryDevice dst(size, ErrorKind::kTarget);
  const auto all = src.contents();
  dst.fill(0, std::vector<uint8_t>(all.begin(), all.begin() + 256 * kKiB));
  Outcome o = run_pair(src, &dst, params(size), 256 * kKiB, false);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_TRUE(dst.contents() == src.contents());
  EXPECT_EQ(o.source_stats.data_bytes, size - 256 * kKiB);
  EXPECT_EQ(o.source_stats.target_bytes_hashed, 256 * kKiB);
}

TEST_F(Session, DryRunCountsButWritesNothing) {
  const uint64_t size = kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, size, 1);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fill_pattern(0, size, 1);
  dst.fill(10 * kBs, std::vector<uint8_t>(3 * kBs, 0xEE));
  dst.fill_pattern(200 * kBs, kBs, 2);
  const auto before = dst.contents();
  Outcome o = run_pair(src, &dst, params(size, proto::HashKind::kXxh3_128, true), size, false);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_EQ(o.source_stats.data_bytes, 4 * kBs);
  EXPECT_EQ(o.source_stats.changed_blocks, 4u);
  EXPECT_TRUE(dst.ops().empty()) << describe(dst.ops());
  EXPECT_TRUE(dst.contents() == before);
}

TEST_F(Session, DryRunAgainstAMissingTarget) {
  const uint64_t size = kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, 12 * kKiB, 1);
  Outcome o = run_pair(src, nullptr, params(size, proto::HashKind::kXxh3_128, true), 0, true);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_EQ(o.source_stats.data_bytes, 12 * kKiB);
  EXPECT_EQ(o.source_stats.hole_bytes, 0u);
}

TEST_F(Session, EmptyImage) {
  MemoryDevice src(0, ErrorKind::kSource);
  MemoryDevice dst(0, ErrorKind::kTarget);
  Outcome o = run_pair(src, &dst, params(0), 0, true);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_EQ(o.source_stats.bytes_scanned, 0u);
  EXPECT_EQ(o.source_stats.data_bytes, 0u);
  EXPECT_TRUE(changes(dst).empty());
}

TEST_F(Session, LargeFirstCloneRoundTrips) {
  // Several 1 MiB DATA frames and reader chunks, an odd size, a 64 KiB block.
  const uint64_t size = 24 * kMiB + 12345;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, 10 * kMiB, 1);
  src.fill_pattern(16 * kMiB + 100, 8 * kMiB + 12245, 2);
  MemoryDevice dst(size, ErrorKind::kTarget);
  SessionParams p = params(size);
  p.block_size = 64 * 1024;
  Outcome o = run_pair(src, &dst, p, 0, true);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_TRUE(dst.contents() == src.contents());
  // 16 MiB + 100 lies inside the 64 KiB block at 16 MiB: that block is sent whole.
  EXPECT_EQ(o.source_stats.data_bytes, 10 * kMiB + (size - 16 * kMiB));
}

// --- faults ----------------------------------------------------------------

TEST_F(Session, TargetWriteErrorFailsBothSidesAsTarget) {
  const uint64_t size = 8 * kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, size, 1);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fail_write_call(2, EIO);
  Outcome o = run_pair(src, &dst, params(size), 0, true);
  ASSERT_FALSE(o.target.is_ok());
  EXPECT_EQ(o.target.kind(), ErrorKind::kTarget) << o.target.message();
  ASSERT_FALSE(o.source.is_ok());
  EXPECT_EQ(o.source.kind(), ErrorKind::kTarget) << o.source.message();
  EXPECT_NE(o.source.message().find(strerror(EIO)), std::string::npos) << o.source.message();
}

TEST_F(Session, TargetWriteErrorDuringIncrementalDoesNotHang) {
  // The target is also hashing while the write fails.
  const uint64_t size = 32 * kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, size, 1);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fill_pattern(0, size, 2);
  dst.fail_write_call(1, EIO);
  Outcome o = run_pair(src, &dst, params(size), size, false);
  EXPECT_EQ(o.target.kind(), ErrorKind::kTarget) << o.target.message();
  EXPECT_EQ(o.source.kind(), ErrorKind::kTarget) << o.source.message();
}

TEST_F(Session, TargetZeroErrorFailsAsTarget) {
  const uint64_t size = kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fill_pattern(0, size, 2);
  dst.fail_zero_call(1, EIO);
  Outcome o = run_pair(src, &dst, params(size), size, false);
  EXPECT_EQ(o.target.kind(), ErrorKind::kTarget) << o.target.message();
  EXPECT_EQ(o.source.kind(), ErrorKind::kTarget) << o.source.message();
}

TEST_F(Session, TargetFlushErrorIsNeverReportedAsDone) {
  const uint64_t size = kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, size, 1);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fail_sync_call(1, EIO);
  Outcome o = run_pair(src, &dst, params(size), 0, true);
  EXPECT_EQ(o.target.kind(), ErrorKind::kTarget) << o.target.message();
  EXPECT_EQ(o.source.kind(), ErrorKind::kTarget) << o.source.message();
}

TEST_F(Session, TargetReadErrorWhileHashingFailsAsTarget) {
  const uint64_t size = 4 * kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, size, 1);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fill_pattern(0, size, 1);
  dst.fail_read_call(2, EIO);
  Outcome o = run_pair(src, &dst, params(size), size, false);
  EXPECT_EQ(o.target.kind(), ErrorKind::kTarget) << o.target.message();
  EXPECT_EQ(o.source.kind(), ErrorKind::kTarget) << o.source.message();
}

TEST_F(Session, SourceShrinkingMidRunFailsAsSource) {
  const uint64_t size = 8 * kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, size, 1);
  src.shrink_after_reads(1, 2 * kMiB);
  MemoryDevice dst(size, ErrorKind::kTarget);
  Outcome o = run_pair(src, &dst, params(size), 0, true);
  ASSERT_FALSE(o.source.is_ok());
  EXPECT_EQ(o.source.kind(), ErrorKind::kSource) << o.source.message();
  EXPECT_NE(o.source.message().find("shrank"), std::string::npos) << o.source.message();
  ASSERT_FALSE(o.target.is_ok());
  EXPECT_EQ(o.target.kind(), ErrorKind::kSource) << o.target.message();
}

TEST_F(Session, SourceFileTruncatedAfterOpenFailsAsSource) {
  // A real file shrinks between open (size cached) and the read of its tail.
  testing::TempDir dir;
  testing::SparseImage img(dir.file("src"), 8 * kMiB);
  img.data(0, 8 * kMiB);
  auto opened = FileDevice::open(img.path(), false, ErrorKind::kSource);
  ASSERT_TRUE(opened.is_ok()) << opened.status().message();
  auto src = opened.take();
  ASSERT_EQ(::truncate(img.path().c_str(), static_cast<off_t>(2 * kMiB)), 0);
  MemoryDevice dst(8 * kMiB, ErrorKind::kTarget);
  Outcome o = run_pair(*src, &dst, params(8 * kMiB), 0, true);
  EXPECT_EQ(o.source.kind(), ErrorKind::kSource) << o.source.message();
  EXPECT_FALSE(o.target.is_ok());
}

TEST_F(Session, EachSideAsksForEachExtentOnce) {
  // Both sides walk their extents in order and read data in chunks (1 MiB,
  // 256 KiB); asking for the extent again at every chunk was two lseeks per
  // chunk on a real file. Layout: 8 MiB data, 4 MiB hole, 4 MiB data.
  const uint64_t size = 16 * kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, 8 * kMiB, 1);
  src.fill_pattern(12 * kMiB, 4 * kMiB, 1);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fill_pattern(0, 8 * kMiB, 1);
  dst.fill_pattern(12 * kMiB, 4 * kMiB, 2);
  Outcome o = run_pair(src, &dst, params(size), size, false);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_TRUE(dst.contents() == src.contents());
  EXPECT_EQ(src.extent_calls(), 3);
  EXPECT_EQ(dst.extent_calls(), 3);
}

TEST_F(Session, SourceReadErrorFailsAsSource) {
  const uint64_t size = 4 * kMiB;
  MemoryDevice src(size, ErrorKind::kSource);
  src.fill_pattern(0, size, 1);
  src.fail_read_call(3, EIO);
  MemoryDevice dst(size, ErrorKind::kTarget);
  dst.fill_pattern(0, size, 1);
  Outcome o = run_pair(src, &dst, params(size), size, false);
  EXPECT_EQ(o.source.kind(), ErrorKind::kSource) << o.source.message();
  EXPECT_FALSE(o.target.is_ok());
}

}  // namespace
}  // namespace sparsync
