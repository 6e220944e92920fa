// The undo journal in a running target session (docs/undo-journal.md):
// source and target sessions over a socketpair, the target a MemoryDevice
// whose writes are lost unless synced. Before every write and zero of the
// target, a hook reads the journal on disk and checks that it already holds
// the old content of the range about to change (the ordering rule: the
// journal is flushed before the writes of its batch are issued, so what the
// hook reads is what a power cut would leave). Then a power cut at each
// write of the run: the replayed journal gives the pre-run image byte for
// byte.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "common/undo_journal.h"
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

constexpr uint32_t kPageBlock = 4096;
constexpr uint64_t kImage = 16 * kMiB;

Status run_journaled_pair(MemoryDevice& src, MemoryDevice& dst, const SessionParams& params,
                          const SourceSessionOptions& options, const TargetSessionInput& input) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Status target;
  std::thread target_thread([&] {
    FrameReader in(sv[1]);
    FrameWriter out(sv[1]);
    TargetSessionResult r;
    TargetSessionInput in_copy = input;
    in_copy.device = &dst;
    target = run_target_session(in_copy, in, out, &r);
    ::shutdown(sv[1], SHUT_RDWR);
  });
  {
    FrameReader in(sv[0]);
    FrameWriter out(sv[0]);
    SourceSessionResult r;
    (void)run_source_session(src, params, options, in, out, &r);
    ::shutdown(sv[0], SHUT_RDWR);
  }
  target_thread.join();
  ::close(sv[0]);
  ::close(sv[1]);
  return target;
}

// The journal at `path` as a power cut would leave it: its first `durable`
// bytes, then a torn record (stale bytes past the last flush).
void cut_power(const std::string& path, uint64_t durable) {
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(durable)), 0);
  std::string torn = testing::read_text(path) + std::string(40, '\x01');
  testing::write_text(path, torn);
}

// Empty when the first `durable` bytes of the journal at `path` (what a
// power cut now would leave) hold, for all of [offset, end), the bytes of `old`.
std::string journal_covers(const std::string& path, uint64_t durable, const std::vector<uint8_t>& old, uint64_t offset,
                           uint64_t end) {
  const std::string flushed = path + ".flushed";
  testing::write_text(flushed, testing::read_text(path).substr(0, durable));
  UniqueFd fd(::open(flushed.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "no journal";
  std::map<uint64_t, uint64_t> covered;
  std::string wrong;
  UndoScan scan;
  Status s = scan_undo_journal(
      fd.get(), path,
      [&](const UndoEntry& e) {
        for (uint64_t i = 0; i < e.length && wrong.empty(); ++i) {
          if (old[e.offset + i] != (e.zero ? 0 : e.data[i])) wrong = "record byte " + std::to_string(e.offset + i);
        }
        covered[e.offset] = e.offset + e.length;
        return Status::ok();
      },
      &scan);
  if (!s.is_ok()) return s.message();
  if (!wrong.empty()) return wrong + " is not the old content";
  uint64_t at = offset;
  for (const auto& [b, e] : covered) {
    if (b <= at && e > at) at = e;
  }
  return at >= end ? "" : "byte " + std::to_string(at) + " is not journaled";
}

// The end of the last range the first `durable` bytes of the journal at
// `path` cover.
uint64_t journaled_end(const std::string& path, uint64_t durable) {
  const std::string flushed = path + ".flushed";
  testing::write_text(flushed, testing::read_text(path).substr(0, durable));
  UniqueFd fd(::open(flushed.c_str(), O_RDONLY | O_CLOEXEC));
  uint64_t end = 0;
  UndoScan scan;
  (void)scan_undo_journal(
      fd.get(), path,
      [&](const UndoEntry& e) {
        end = std::max(end, e.offset + e.length);
        return Status::ok();
      },
      &scan);
  return end;
}

class UndoSession : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    // The source: data, with a hole at [12, 14) MiB.
    src_.fill_pattern(0, 12 * kMiB, 7);
    src_.fill_pattern(14 * kMiB, 2 * kMiB, 7);
    params_.image_size = kImage;
    params_.block_size = kPageBlock;
    options_.checkpoint_bytes = 2 * kMiB;
    options_.checkpoint_seconds = 1000;
    journal_path_ = dir_.file(".dst.sparsync-undo");
    auto place = record_place_at(journal_path_);
    ASSERT_TRUE(place.is_ok()) << place.status().message();
    place_ = place.take();
  }

  // Last night's image: other data, the same at [2, 4) MiB, a hole at [8, 9) MiB.
  void make_old(MemoryDevice& dst) {
    dst.fill_pattern(0, 8 * kMiB, 9);
    dst.fill_pattern(9 * kMiB, 7 * kMiB, 9);
    std::vector<uint8_t> same = src_.contents();
    dst.fill(2 * kMiB, std::vector<uint8_t>(same.begin() + 2 * kMiB, same.begin() + 4 * kMiB));
    dst.set_volatile_writes(true);
  }

  TargetSessionInput input_for(UndoJournal* journal) {
    TargetSessionInput input;
    input.params = params_;
    input.readable_size = kImage;
    input.undo = journal;
    return input;
  }

  std::unique_ptr<UndoJournal> new_journal() {
    auto j = UndoJournal::create(place_, UndoHeader{0, kImage, 0, "mem"});
    EXPECT_TRUE(j.is_ok()) << j.status().message();
    return j.take();
  }

  TempDir dir_;
  std::string journal_path_;
  RecordPlace place_;
  MemoryDevice src_{kImage, ErrorKind::kSource};
  SessionParams params_;
  SourceSessionOptions options_;
};

TEST_F(UndoSession, EveryOverwriteIsJournaledBeforeItHappens) {
  MemoryDevice dst(kImage, ErrorKind::kTarget);
  make_old(dst);
  const std::vector<uint8_t> old = dst.contents();
  std::mutex mu;
  std::vector<std::string> violations;
  int checks = 0;
  auto journal = new_journal();
  dst.set_op_hook([&](const DeviceOp& op) {
    if (op.kind != DeviceOp::kWrite && op.kind != DeviceOp::kZero) return;
    std::string why = journal_covers(journal_path_, journal->durable_bytes(), old, op.offset, op.offset + op.length);
    std::lock_guard<std::mutex> lock(mu);
    ++checks;
    if (!why.empty() && violations.size() < 5) violations.push_back("before " + testing::to_string(op) + ": " + why);
  });
  ASSERT_TRUE(run_journaled_pair(src_, dst, params_, options_, input_for(journal.get())).is_ok());
  EXPECT_TRUE(dst.contents() == src_.contents());
  EXPECT_GT(checks, 10);
  for (const auto& v : violations) ADD_FAILURE() << v;
  // Complete: the way back is no longer needed.
  EXPECT_FALSE(testing::exists(journal_path_));
}

TEST_F(UndoSession, APowerCutAtAnyWriteIsRolledBackToThePreRunImage) {
  // Every write of the run in turn, until the run has fewer writes than n.
  for (int n = 1;; ++n) {
    SCOPED_TRACE("power cut at write " + std::to_string(n));
    MemoryDevice dst(kImage, ErrorKind::kTarget);
    make_old(dst);
    const std::vector<uint8_t> old = dst.contents();
    dst.fail_write_call(n, EIO);
    {
      auto journal = new_journal();
      if (run_journaled_pair(src_, dst, params_, options_, input_for(journal.get())).is_ok()) {
        EXPECT_GT(n, 10);
        break;
      }
    }
    dst.crash();
    UndoReplay replay;
    ASSERT_TRUE(replay_undo_journal(place_, dst, &replay).is_ok());
    EXPECT_TRUE(dst.contents() == old);
    ASSERT_TRUE(remove_undo_journal(place_).is_ok());
  }
}

// The journal of the next batch is appended and flushed while the writes
// of this one are issued (docs/undo-journal.md U1): a power cut then keeps
// only what was flushed before it, and that must still roll back every
// write issued. Writes are slowed so the journal runs ahead of them.
TEST_F(UndoSession, APowerCutWhileTheNextBatchIsJournaledKeepsTheWayBack) {
  options_.checkpoint_bytes = 16 * kMiB;  // batches end at 1024 writes or 8 MiB, not at checkpoints
  std::atomic<int> ran_ahead{0};
  for (int n = 1;; ++n) {
    SCOPED_TRACE("power cut at write " + std::to_string(n));
    MemoryDevice dst(kImage, ErrorKind::kTarget);
    make_old(dst);
    const std::vector<uint8_t> old = dst.contents();
    dst.fail_write_call(n, EIO);
    std::atomic<uint64_t> durable_at_cut{0};
    std::atomic<int> writes{0};
    bool completed = false;
    {
      auto journal = new_journal();
      dst.set_op_hook([&](const DeviceOp& op) {
        if (op.kind != DeviceOp::kWrite) return;
        if (++writes == n) {
          durable_at_cut = journal->durable_bytes();
          // A batch holds at most 8 MiB from its first write on: a durable
          // record further on belongs to the next batch.
          if (journaled_end(journal_path_, durable_at_cut) > op.offset + 8 * kMiB) ++ran_ahead;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      });
      completed = run_journaled_pair(src_, dst, params_, options_, input_for(journal.get())).is_ok();
      dst.set_op_hook(nullptr);
    }
    if (completed) {
      EXPECT_GT(n, 10);
      break;
    }
    dst.crash();
    cut_power(journal_path_, durable_at_cut);
    UndoReplay replay;
    ASSERT_TRUE(replay_undo_journal(place_, dst, &replay).is_ok());
    EXPECT_GT(replay.scan.torn_bytes(), 0u);
    EXPECT_TRUE(dst.contents() == old);
    ASSERT_TRUE(remove_undo_journal(place_).is_ok());
  }
  // The case this test is for happened: the journal was a batch ahead of the writes.
  EXPECT_GT(ran_ahead.load(), 0);
}

TEST_F(UndoSession, AResumedRunAddsOnlyWhatTheJournalLacks) {
  MemoryDevice dst(kImage, ErrorKind::kTarget);
  make_old(dst);
  const std::vector<uint8_t> old = dst.contents();
  dst.fail_write_call(9, EIO);
  {
    auto journal = new_journal();
    ASSERT_FALSE(run_journaled_pair(src_, dst, params_, options_, input_for(journal.get())).is_ok());
  }
  dst.crash();
  // The second run starts from the beginning (no checkpoint record here) over
  // blocks the first one already overwrote: their before-images stay those
  // of the first run, and it is killed too.
  dst.fail_write_call(0, 0);
  dst.fail_zero_call(1, EIO);
  {
    auto reopened = UndoJournal::open(place_);
    ASSERT_TRUE(reopened.is_ok()) << reopened.status().message();
    ASSERT_FALSE(run_journaled_pair(src_, dst, params_, options_, input_for(reopened.value().get())).is_ok());
  }
  dst.crash();
  UndoReplay replay;
  ASSERT_TRUE(replay_undo_journal(place_, dst, &replay).is_ok());
  EXPECT_TRUE(dst.contents() == old);
}

}  // namespace
}  // namespace sparsync
