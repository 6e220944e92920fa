// A checkpoint is never ahead of durable data (PROTOCOL.md §6 D2): source and
// target sessions over a socketpair, the target a MemoryDevice whose writes
// are lost unless synced (set_volatile_writes + crash()). Before every write,
// zero and sync of the target, a hook reads the checkpoint record on disk and
// checks that everything below its offset is already durable and equal to
// the source; after an interrupted run the device "loses power" and a
// resumed session must still finish byte-identical without re-sending
// anything below the record.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <optional>
#include <thread>

#include "common/checkpoint_store.h"
#include "source/source_session.h"
#include "support/fake_device.h"
#include "support/files.h"
#include "support/sizes.h"
#include "target/target_session.h"

namespace sparsync {
namespace {

using testing::DeviceOp;
using testing::kMiB;
using testing::MemoryDevice;
using testing::TempDir;

constexpr uint32_t kBs = 4096;

struct Outcome {
  Status source, target;
  SyncStats source_stats;
};

Outcome run_pair(MemoryDevice& src, MemoryDevice& dst, const SessionParams& params, const SourceSessionOptions& options,
                 const TargetSessionInput& input) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Outcome o;
  std::thread target_thread([&] {
    FrameReader in(sv[1]);
    FrameWriter out(sv[1]);
    TargetSessionResult r;
    TargetSessionInput in_copy = input;
    in_copy.device = &dst;
    o.target = run_target_session(in_copy, in, out, &r);
    ::shutdown(sv[1], SHUT_RDWR);
  });
  {
    FrameReader in(sv[0]);
    FrameWriter out(sv[0]);
    SourceSessionResult r;
    o.source = run_source_session(src, params, options, in, out, &r);
    o.source_stats = r.stats;
    ::shutdown(sv[0], SHUT_RDWR);
  }
  target_thread.join();
  ::close(sv[0]);
  ::close(sv[1]);
  return o;
}

std::optional<CheckpointRecord> load(const std::string& path) {
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  EXPECT_TRUE(load_checkpoint(path, &rec, &corrupt).is_ok());
  EXPECT_FALSE(corrupt) << path;
  return rec;
}

// Empty when the record at `path` (if any) is backed by durable data of `dst`
// equal to `want`; otherwise what is wrong.
std::string record_backed(const std::string& path, const MemoryDevice& dst, const std::vector<uint8_t>& want) {
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  if (!load_checkpoint(path, &rec, &corrupt).is_ok() || corrupt) return "unreadable record";
  if (!rec) return "";
  const uint64_t end = rec->durable_offset;
  if (end > want.size()) return "record past the end of the source";
  std::optional<uint64_t> at = dst.durable_mismatch(want, end);
  if (!at) return "";
  return "record at " + std::to_string(end) + " but durable byte " + std::to_string(*at) +
         " differs from the source (or the durable contents end there)";
}

class Durability : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 16 * kMiB;

  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    src_.fill_pattern(0, kSize, 7);
    want_ = src_.contents();
    dst_.set_volatile_writes(true);
    cp_path_ = dir_.file(".dst.sparsync-checkpoint");
    // The invariant, checked at every device operation of the target: the
    // record on disk never vouches for data that a crash now would lose.
    dst_.set_op_hook([this](const DeviceOp& op) {
      std::string why = record_backed(cp_path_, dst_, want_);
      std::lock_guard<std::mutex> lock(mu_);
      ++checks_;
      if (!why.empty() && violations_.size() < 5)
        violations_.push_back("before " + testing::to_string(op) + ": " + why);
    });
    params_.image_size = kSize;
    params_.block_size = kBs;
    options_.checkpoint_bytes = 2 * kMiB;
    options_.checkpoint_seconds = 1000;  // bytes decide, never the clock
    input_.params = params_;
    input_.readable_size = 0;
    input_.known_zero = true;
    auto place = record_place_at(cp_path_);
    ASSERT_TRUE(place.is_ok()) << place.status().message();
    place_ = std::move(place.value());
    input_.record = &place_;
    input_.checkpoint = CheckpointRecord{"mem:src", kSize, kBs, params_.hash_kind, 0, 0};
  }

  // After a failed run: power cut, then a resumed session from the record.
  // `flushed_above`: the failed run flushed what it wrote above the record
  // before it ended (it does when the fault was not the target's own, to
  // bind the record to the target's state), so the crash did not drop it.
  void crash_and_resume(uint64_t expect_offset, bool flushed_above = false) {
    dst_.crash();
    auto rec = load(cp_path_);
    ASSERT_TRUE(rec.has_value()) << "an interrupted run must leave its record";
    EXPECT_EQ(rec->durable_offset, expect_offset);
    std::string why = record_backed(cp_path_, dst_, want_);
    EXPECT_EQ(why, "") << "after the crash";

    TargetSessionInput again = input_;
    again.readable_size = kSize;
    again.known_zero = false;
    again.resume_offset = rec->durable_offset;
    Outcome o = run_pair(src_, dst_, params_, options_, again);
    ASSERT_TRUE(o.source.is_ok()) << o.source.message();
    ASSERT_TRUE(o.target.is_ok()) << o.target.message();
    EXPECT_TRUE(dst_.contents() == want_);
    EXPECT_EQ(o.source_stats.resumed_from, rec->durable_offset);
    EXPECT_EQ(o.source_stats.bytes_scanned, kSize - rec->durable_offset) << "nothing below the record is read";
    // Unless it was flushed, the crash dropped everything above the record,
    // so all of it is sent again; nothing below it is.
    if (flushed_above) {
      EXPECT_LT(o.source_stats.data_bytes, kSize - rec->durable_offset);
    } else {
      EXPECT_EQ(o.source_stats.data_bytes, kSize - rec->durable_offset);
    }
    EXPECT_FALSE(testing::exists(cp_path_)) << "a complete run removes its record";
    dst_.crash();
    EXPECT_TRUE(dst_.contents() == want_) << "a finished run is durable";
  }

  void expect_invariant_held() {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_GT(checks_, 10);
    for (const auto& v : violations_) ADD_FAILURE() << v;
  }

  TempDir dir_;
  std::string cp_path_;
  RecordPlace place_;
  MemoryDevice src_{kSize, ErrorKind::kSource};
  MemoryDevice dst_{kSize, ErrorKind::kTarget};
  std::vector<uint8_t> want_;
  SessionParams params_;
  SourceSessionOptions options_;
  TargetSessionInput input_;
  std::mutex mu_;
  int checks_ = 0;
  std::vector<std::string> violations_;
};

TEST_F(Durability, CheckerCatchesARecordAheadOfDurableData) {
  // The invariant check itself can fail: a record saved before the sync.
  std::vector<uint8_t> mib(want_.begin(), want_.begin() + kMiB);
  ASSERT_TRUE(dst_.write_at(0, mib.data(), mib.size()).is_ok());
  ASSERT_TRUE(save_checkpoint(cp_path_, CheckpointRecord{"mem:src", kSize, kBs, params_.hash_kind, kMiB, 0}).is_ok());
  EXPECT_NE(record_backed(cp_path_, dst_, want_), "");
  ASSERT_TRUE(dst_.sync().is_ok());
  EXPECT_EQ(record_backed(cp_path_, dst_, want_), "");
  dst_.set_op_hook(nullptr);
  std::lock_guard<std::mutex> lock(mu_);
  violations_.clear();
}

TEST_F(Durability, WriteFailureThenCrashLeavesATrueRecordAndResumes) {
  // 1 MiB DATA frames: CHECKPOINTs at 2, 4, 6, 8 and 10 MiB; the 11th write
  // (at 10 MiB) fails, after CHECKPOINT(10 MiB) was applied.
  dst_.fail_write_call(11, EIO);
  Outcome o = run_pair(src_, dst_, params_, options_, input_);
  ASSERT_FALSE(o.target.is_ok());
  EXPECT_EQ(o.target.kind(), ErrorKind::kTarget) << o.target.message();
  EXPECT_FALSE(o.source.is_ok());
  // Each checkpoint's sync precedes its record: 5 checkpoints, 5 syncs.
  auto ops = dst_.ops();
  EXPECT_EQ(std::count_if(ops.begin(), ops.end(), [](const DeviceOp& op) { return op.kind == DeviceOp::kSync; }), 5);
  dst_.fail_write_call(0, 0);
  crash_and_resume(10 * kMiB);
  expect_invariant_held();
}

TEST_F(Durability, FailedFlushNeverAdvancesTheRecord) {
  // The third checkpoint's fdatasync fails: the record must stay at the
  // second (4 MiB), although the data of the third reached the device cache.
  dst_.fail_sync_call(3, EIO);
  Outcome o = run_pair(src_, dst_, params_, options_, input_);
  ASSERT_FALSE(o.target.is_ok());
  EXPECT_EQ(o.target.kind(), ErrorKind::kTarget) << o.target.message();
  crash_and_resume(4 * kMiB);
  expect_invariant_held();
}

TEST_F(Durability, SourceReadErrorMidRunLeavesATrueRecord) {
  // The source fails reading its 7th chunk; the target sees the source's
  // ERROR, not a device fault, and keeps the last record it made.
  src_.fail_read_call(7, EIO);
  Outcome o = run_pair(src_, dst_, params_, options_, input_);
  ASSERT_FALSE(o.source.is_ok());
  EXPECT_EQ(o.source.kind(), ErrorKind::kSource) << o.source.message();
  ASSERT_FALSE(o.target.is_ok());
  dst_.crash();
  auto rec = load(cp_path_);
  ASSERT_TRUE(rec.has_value());
  EXPECT_LE(rec->durable_offset, 6 * kMiB);
  EXPECT_EQ(rec->durable_offset % (2 * kMiB), 0u);
  EXPECT_EQ(record_backed(cp_path_, dst_, want_), "");
  src_.fail_read_call(0, 0);
  crash_and_resume(rec->durable_offset, true);
  expect_invariant_held();
}

TEST_F(Durability, HoleRangesBelowACheckpointAreAppliedBeforeIt) {
  // The source turns 2-10 MiB into a hole over the target's old data. The
  // HOLE for it is still pending in the sender when the CHECKPOINT at 10 MiB
  // falls due: it must go out first, or the target makes a record vouching
  // for 2-10 MiB while they still hold the old data (and a crash then leaves
  // them so for good: a resumed run starts at 10 MiB).
  dst_.fill_pattern(0, kSize, 99);
  dst_.set_volatile_writes(true);  // the old data is durable
  ASSERT_TRUE(src_.zero_range(2 * kMiB, 8 * kMiB).is_ok());
  want_ = src_.contents();  // before any target operation, so the hook checks against it
  TargetSessionInput input = input_;
  input.readable_size = kSize;
  input.known_zero = false;
  Outcome o = run_pair(src_, dst_, params_, options_, input);
  ASSERT_TRUE(o.source.is_ok()) << o.source.message();
  ASSERT_TRUE(o.target.is_ok()) << o.target.message();
  EXPECT_EQ(o.source_stats.hole_bytes, 8 * kMiB);
  EXPECT_GE(o.source_stats.checkpoints, 3u);
  dst_.crash();
  EXPECT_TRUE(dst_.contents() == want_) << "a finished run is durable";
  expect_invariant_held();
}

}  // namespace
}  // namespace sparsync
