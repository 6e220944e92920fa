// The undo journal end to end, local (pipe) mode (docs/undo-journal.md): an
// incremental run whose target process is killed with SIGKILL mid-run, then
// `sparsync --rollback` without the source gives exactly the previous image
// (the one that was there before the run, saved aside and compared); the
// same when a second run over the pending journal (resumed, or --restart)
// is killed too. Also what --status, --no-undo and --rollback say around it.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <thread>

#include "common/checkpoint_store.h"
#include "support/command.h"
#include "support/files.h"
#include "support/loop_device.h"
#include "support/process.h"
#include "support/sizes.h"
#include "support/undo_files.h"

namespace sparsync::testing {
namespace {

constexpr uint64_t kNewSize = 256 * kMiB;
constexpr uint64_t kPreviousSize = 192 * kMiB;  // the previous image was smaller: the run grows it
constexpr uint64_t kStrikeAt = 32 * kMiB;       // journal bytes when the target process is killed

uint64_t allocated_now(const std::string& path) { return exists(path) ? allocated_bytes(path) : 0; }

class Rollback : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    source_dir_ = new TempDir();
    SparseImage(source_dir_->file("src.img"), kNewSize).data(0, kNewSize, 11);
  }
  static void TearDownTestSuite() {
    delete source_dir_;
    source_dir_ = nullptr;
  }
  void SetUp() override {
    src_ = source_dir_->file("src.img");
    dst_ = dir_.file("dst.img");
    prev_ = dir_.file("prev.img");
    // Last night's image: other data, a hole in the middle, smaller.
    SparseImage(dst_, kPreviousSize).data(0, 64 * kMiB, 12).data(96 * kMiB, kPreviousSize - 96 * kMiB, 13);
    ASSERT_EQ(run_command({"/bin/cp", "--sparse=always", dst_, prev_}).exit_code, 0);
    journal_ = journal_of(dst_);
  }

  std::unique_ptr<Process> start(std::vector<std::string> args, const std::string& bwlimit = "128M") {
    std::vector<std::string> argv{SPARSYNC_BINARY,         "--retries", "0", "--bwlimit", bwlimit,
                                  "--checkpoint-interval", "8M"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(src_);
    argv.push_back(dst_);
    return Process::start(argv);
  }
  pid_t server_child(Process& p) {
    pid_t child = -1;
    wait_until(
        [&] {
          auto kids = p.children();
          if (kids.size() == 1) child = kids[0];
          return child > 0;
        },
        10);
    return child;
  }
  // Starts a run and kills its target process (the local server) with
  // SIGKILL once `journal_bytes` more of the journal exist.
  void killed_run(std::vector<std::string> args = {}) {
    const std::string journal = journal_;
    const uint64_t before = exists(journal) ? file_size(journal) : 0;
    auto p = start(std::move(args));
    pid_t child = server_child(*p);
    ASSERT_GT(child, 0);
    uint64_t seen = 0;
    bool grew = wait_until(
        [&] { return (seen = exists(journal) ? file_size(journal) : 0) >= before + kStrikeAt || !p->running(); }, 30);
    ASSERT_TRUE(grew && p->running()) << "the run ended before its journal grew by " << kStrikeAt << "; saw " << seen;
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    auto r = p->wait(30);
    ASSERT_TRUE(r.has_value());
    EXPECT_NE(r->exit_code, 0);
    EXPECT_TRUE(exists(journal)) << "a killed run leaves its journal";
  }
  void expect_rolled_back() {
    CommandResult r = run_sparsync({"--rollback", dst_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.mentions("rolled back " + dst_ + " to its state before the interrupted run")) << r.out;
    EXPECT_EQ(first_difference(prev_, dst_), std::nullopt) << "rollback gives exactly the previous image";
    EXPECT_FALSE(exists(journal_));
    EXPECT_FALSE(exists(checkpoint_path(dst_, block_)));
    CommandResult status = run_sparsync({"--status", dst_});
    EXPECT_TRUE(status.mentions("complete (no interrupted sync recorded)")) << status.out;
  }

  // Last night's image on a loop device (its backing file dev.img), as the
  // target, and saved as prev_; null when losetup fails (`why` says why).
  std::unique_ptr<LoopDevice> loop_target(std::string* why) {
    const std::string backing = dir_.file("dev.img");
    SparseImage(backing, kNewSize).data(0, 128 * kMiB, 12);
    auto lo = LoopDevice::attach(backing, why);
    if (!lo) return lo;
    EXPECT_EQ(run_command({"/bin/cp", "--sparse=always", backing, prev_}).exit_code, 0);
    dst_ = lo->path();
    return lo;
  }

  static TempDir* source_dir_;
  TempDir dir_;
  std::string src_, dst_, prev_;
  std::string journal_;  // where the target's journal lives
  bool block_ = false;
};

// $SPARSYNC_STATE_DIR for one test, whatever way it ends.
struct StateDir {
  explicit StateDir(const std::string& dir) { ::setenv("SPARSYNC_STATE_DIR", dir.c_str(), 1); }
  ~StateDir() { ::unsetenv("SPARSYNC_STATE_DIR"); }
};

TempDir* Rollback::source_dir_ = nullptr;

TEST_F(Rollback, AKilledIncrementalIsRolledBackToThePreviousImage) {
  killed_run();
  EXPECT_NE(first_difference(prev_, dst_), std::nullopt) << "the run changed the target before it was killed";
  CommandResult status = run_sparsync({"--status", dst_});
  EXPECT_TRUE(status.mentions("can return it to its state before the interrupted run: sparsync --rollback " + dst_))
      << status.out;
  expect_rolled_back();
  // Run again: nothing left to do.
  CommandResult again = run_sparsync({"--rollback", dst_});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_TRUE(again.mentions("nothing to roll back")) << again.out;
}

TEST_F(Rollback, ASecondRunKilledAgainStillRollsBackToTheStateBeforeTheFirst) {
  killed_run();
  killed_run();
  expect_rolled_back();
}

TEST_F(Rollback, ARestartedRunOverAPendingJournalKeepsTheWayBack) {
  killed_run();
  killed_run({"--restart"});
  expect_rolled_back();
}

TEST_F(Rollback, ACompletedRunRemovesItsJournal) {
  auto p = start({});
  EXPECT_TRUE(wait_until([&] { return exists(journal_of(dst_)) || !p->running(); }, 10) && exists(journal_of(dst_)))
      << "a run onto an existing target keeps a journal while it runs";
  auto r = p->wait(60);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->exit_code, 0) << r->err;
  EXPECT_FALSE(exists(journal_of(dst_)));
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
}

// --no-undo over a pending journal gives that way back up, says so, and
// syncs: a nightly job whose journal hit its cap is not stuck.
TEST_F(Rollback, NoUndoOverAPendingJournalRemovesItAndSaysSo) {
  killed_run();
  CommandResult r = run_sparsync({"--no-undo", src_, dst_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.mentions("--no-undo: removed the undo journal " + journal_ + " of the interrupted run")) << r.err;
  EXPECT_FALSE(exists(journal_));
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
}

// --max-undo: the run stops before the overwrite whose old content would
// take the journal past the cap, with one line and exit code 4; the target
// rolls back to exactly the previous image, and after another capped stop
// the documented remedy (--no-undo) completes the sync.
TEST_F(Rollback, AJournalThatWouldPassMaxUndoStopsTheRunBeforeTheOverwrite) {
  const std::vector<std::string> capped{"--retries", "0", "--max-undo", "4M", src_, dst_};
  CommandResult r = run_sparsync(capped);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_TRUE(r.mentions("undo journal " + journal_ + " of " + dst_ + " would pass --max-undo 4.00 MiB")) << r.err;
  EXPECT_TRUE(r.mentions("rerun with --no-undo to sync without a way back, or with a larger --max-undo")) << r.err;
  ASSERT_TRUE(exists(journal_));
  EXPECT_LE(file_size(journal_), 4 * kMiB);
  CommandResult status = run_sparsync({"--status", dst_});
  EXPECT_TRUE(status.mentions("sparsync --rollback " + dst_)) << status.out;
  expect_rolled_back();

  CommandResult again = run_sparsync(capped);
  EXPECT_EQ(again.exit_code, 4) << again.err;
  CommandResult remedy = run_sparsync({"--retries", "0", "--no-undo", src_, dst_});
  EXPECT_EQ(remedy.exit_code, 0) << remedy.err;
  EXPECT_FALSE(exists(journal_));
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
}

TEST_F(Rollback, NoUndoKeepsNoJournal) {
  auto p = start({"--no-undo"});
  ASSERT_TRUE(wait_until([&] { return exists(checkpoint_path(dst_, false)) || !p->running(); }, 10));
  EXPECT_FALSE(exists(journal_of(dst_)));
  auto r = p->wait(60);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 0) << r->err;
}

TEST_F(Rollback, ATargetTheRunCreatedHasNothingToReturnTo) {
  ASSERT_EQ(::unlink(dst_.c_str()), 0);
  auto p = start({});
  pid_t child = server_child(*p);
  ASSERT_GT(child, 0);
  ASSERT_TRUE(wait_until([&] { return allocated_now(dst_) >= 32 * kMiB || !p->running(); }, 30));
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  ASSERT_TRUE(p->wait(30).has_value());
  CommandResult r = run_sparsync({"--rollback", dst_});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_TRUE(r.mentions("cannot roll back " + dst_ + ": it has no undo journal (the interrupted run created it"))
      << r.err;
}

TEST_F(Rollback, AKilledSyncOntoABlockDeviceIsRolledBackFromTheStateDirectory) {
  std::string why;
  auto lo = loop_target(&why);
  if (!lo) GTEST_SKIP() << "loop devices unavailable: " << why;
  StateDir state(dir_.file("state"));
  block_ = true;
  std::string name = dst_;
  for (char& c : name) {
    if (c == '/') c = '!';
  }
  journal_ = dir_.file("state/" + name + ".undo");
  killed_run({"--undo"});
  expect_rolled_back();
}

// Without --undo a block device keeps no journal: it would go to the state
// directory, another filesystem, up to the device's size.
TEST_F(Rollback, ABlockDeviceKeepsAJournalOnlyWithUndo) {
  const std::string backing = dir_.file("dev.img");
  SparseImage(backing, kNewSize).data(0, 128 * kMiB, 12);
  std::string why;
  auto lo = LoopDevice::attach(backing, &why);
  if (!lo) GTEST_SKIP() << "loop devices unavailable: " << why;
  StateDir state(dir_.file("state"));
  dst_ = lo->path();
  auto p = start({}, "64M");
  // Mid-run (the run is throttled to about 4 s; the device's first 128 MiB
  // were allocated before it): the record is there, no journal.
  ASSERT_TRUE(wait_until([&] { return allocated_now(backing) > 136 * kMiB || !p->running(); }, 30));
  ASSERT_TRUE(p->running()) << "the run ended before it could be looked at";
  bool journal_seen = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.file("state"))) {
    if (entry.path().string().find(".undo") != std::string::npos) journal_seen = true;
  }
  EXPECT_FALSE(journal_seen) << "a block device kept an undo journal without --undo";
  ASSERT_TRUE(p->signal(SIGINT));
  auto r = p->wait(30);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 8) << r->err;
  CommandResult rollback = run_sparsync({"--rollback", dst_});
  EXPECT_NE(rollback.exit_code, 0);
  EXPECT_TRUE(rollback.mentions("has no undo journal")) << rollback.err;
  CommandResult both = run_sparsync({"--undo", "--no-undo", src_, dst_});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_TRUE(both.mentions("--undo and --no-undo do not go together")) << both.err;
}

// Strikes at moments drawn at random (seeded, printed): each time the target
// is reset to the previous image, a run starts and, after a random delay,
// either its target process or its client is killed with SIGKILL. Without
// the source, --rollback must give exactly the previous image, whatever the
// moment was; a run that finished first leaves the source's image.
TEST_F(Rollback, RunsKilledAtRandomMomentsAreAlwaysRolledBackExactly) {
  const unsigned seed = static_cast<unsigned>(::time(nullptr));
  std::printf("seed %u\n", seed);
  std::srand(seed);
  for (int strike = 0; strike < 6; ++strike) {
    SCOPED_TRACE("strike " + std::to_string(strike) + ", seed " + std::to_string(seed));
    ASSERT_EQ(run_command({"/bin/cp", "--sparse=always", prev_, dst_}).exit_code, 0);
    auto p = start({});
    pid_t child = server_child(*p);
    ASSERT_GT(child, 0);
    const int delay_ms = 20 + std::rand() % 1500;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    const bool kill_target = strike % 2 == 0;
    const bool was_running = p->running();
    if (was_running) (void)::kill(kill_target ? child : p->pid(), SIGKILL);
    ASSERT_TRUE(p->wait(30).has_value());
    // A client killed before its server locked the target leaves a server
    // that may still lock it and write its record before it dies of the
    // broken pipe: wait for the server itself, then for the lock.
    ASSERT_TRUE(wait_until([&] { return !pid_alive(child); }, 30)) << "the server outlived its client";
    ASSERT_TRUE(wait_until_unlocked(dst_, 30));
    CommandResult r = run_sparsync({"--rollback", dst_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (r.mentions("nothing to roll back") && first_difference(src_, dst_) == std::nullopt) {
      std::printf("strike %d after %d ms: the run had completed\n", strike, delay_ms);
      continue;
    }
    std::printf("strike %d after %d ms (%s): %s", strike, delay_ms, kill_target ? "target" : "client", r.out.c_str());
    EXPECT_EQ(first_difference(prev_, dst_), std::nullopt) << "rollback gives exactly the previous image";
    EXPECT_FALSE(exists(journal_));
    EXPECT_FALSE(exists(checkpoint_path(dst_, false)));
  }
}

// A nightly job with --keep: last night's run completed and kept its journal
// as a generation; tonight's is killed. Without the source, --rollback returns
// to last night's result, and --to 1 from there to the night before.
TEST_F(Rollback, AKilledRunOverKeptGenerationsRollsBackToEachEarlierState) {
  const std::string last_night = dir_.file("last_night.img");
  CommandResult night = run_sparsync({"-q", "--keep", "2", src_, dst_});
  ASSERT_EQ(night.exit_code, 0) << night.err;
  ASSERT_EQ(run_command({"/bin/cp", "--sparse=always", dst_, last_night}).exit_code, 0);
  src_ = dir_.file("tonight.img");
  SparseImage(src_, kNewSize).data(0, kNewSize, 14);
  killed_run({"--keep", "2"});
  CommandResult status = run_sparsync({"--status", dst_});
  EXPECT_TRUE(status.mentions("can return it to its state before the interrupted run")) << status.out;
  EXPECT_TRUE(status.mentions("1 kept generation (sparsync --rollback " + dst_ + " --to K):")) << status.out;
  ASSERT_EQ(::unlink(src_.c_str()), 0);
  CommandResult undo = run_sparsync({"--rollback", dst_});
  ASSERT_EQ(undo.exit_code, 0) << undo.err;
  EXPECT_TRUE(undo.mentions("rolled back " + dst_ + " to its state before the interrupted run")) << undo.out;
  EXPECT_EQ(first_difference(last_night, dst_), std::nullopt) << "back to last night's result";
  CommandResult further = run_sparsync({"--rollback", dst_, "--to", "1"});
  ASSERT_EQ(further.exit_code, 0) << further.err;
  EXPECT_EQ(first_difference(prev_, dst_), std::nullopt) << "and from there to the night before";
}

// The same in one step: --to 1 undoes the interrupted run first.
TEST_F(Rollback, ToOneOverAnInterruptedRunUndoesItFirst) {
  CommandResult night = run_sparsync({"-q", "--keep", "1", src_, dst_});
  ASSERT_EQ(night.exit_code, 0) << night.err;
  src_ = dir_.file("tonight.img");
  SparseImage(src_, kNewSize).data(0, kNewSize, 14);
  killed_run();
  CommandResult r = run_sparsync({"--rollback", dst_, "--to", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.mentions("undid the interrupted run first")) << r.out;
  EXPECT_EQ(first_difference(prev_, dst_), std::nullopt);
  EXPECT_FALSE(exists(checkpoint_path(dst_, false)));
  EXPECT_FALSE(exists(journal_));
}

TEST_F(Rollback, ABlockDeviceKeepsGenerationsInTheStateDirectory) {
  std::string why;
  auto lo = loop_target(&why);
  if (!lo) GTEST_SKIP() << "loop devices unavailable: " << why;
  const std::string backing = dir_.file("dev.img");
  StateDir state(dir_.file("state"));
  CommandResult r = run_sparsync({"-q", "--keep", "1", src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
  CommandResult back = run_sparsync({"--rollback", dst_, "--to", "1"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(first_difference(prev_, backing), std::nullopt) << "the device holds its state before the run";
}

TEST_F(Rollback, ASymlinkPlantedAtTheJournalsNameIsReplacedNeverFollowed) {
  const std::string victim = dir_.file("victim");
  write_all(victim, {1, 2, 3});
  ASSERT_EQ(::symlink(victim.c_str(), journal_.c_str()), 0);
  CommandResult r = run_sparsync({src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_all(victim), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_FALSE(exists(journal_));
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
}

}  // namespace
}  // namespace sparsync::testing
