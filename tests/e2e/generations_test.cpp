// Kept generations of the undo journal end to end, local (pipe) mode
// (docs/undo-journal.md "Generations"): three successive runs with --keep 3,
// each changing scattered blocks, one growing the image and one shrinking
// it; every earlier state was saved aside before its run and must come back
// byte for byte from --rollback --to, without the source. Also rotation,
// --to TIME, --status's listing, an interrupted rollback, --no-undo against
// kept generations, a run killed on top of them, and what JSON reports.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/checkpoint_store.h"
#include "common/undo_generations.h"
#include "support/command.h"
#include "support/files.h"
#include "support/loop_device.h"
#include "support/process.h"
#include "support/sizes.h"
#include "support/undo_files.h"

namespace sparsync::testing {
namespace {

constexpr uint64_t kImageSize = 16 * kMiB;

// Writes pattern bytes into an existing file without truncating it.
void overwrite(const std::string& path, uint64_t offset, uint64_t length, uint32_t seed) {
  std::vector<uint8_t> bytes = pattern_bytes(seed, offset, length);
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

void resize(const std::string& path, uint64_t size) { ASSERT_EQ(::truncate(path.c_str(), size), 0) << path; }

void copy(const std::string& from, const std::string& to) {
  ASSERT_EQ(run_command({"/bin/cp", "--sparse=always", from, to}).exit_code, 0);
}

class Generations : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.file("src.img");
    dst_ = dir_.file("dst.img");
    SparseImage(src_, kImageSize).data(0, 4 * kMiB, 1).data(8 * kMiB, 4 * kMiB, 2);
    CommandResult first = run_sparsync({"-q", src_, dst_});
    ASSERT_EQ(first.exit_code, 0) << first.err;
  }

  // The source's change before run `n` (1-based): scattered blocks, run 2
  // grows the image, run 3 shrinks it below its first size.
  void change_source(int n) {
    for (uint64_t block = static_cast<uint64_t>(n); block < kImageSize / 4096; block += 97) {
      overwrite(src_, block * 4096, 4096, 100 + n);
    }
    if (n == 2) resize(src_, kImageSize + 3 * kMiB);
    if (n == 3) resize(src_, kImageSize - 5 * kMiB);
  }

  // Runs 1..runs with `args`, saving the target before each as state<n-1>.
  void successive_runs(int runs, const std::vector<std::string>& args = {"--keep", "3"}) {
    for (int n = 1; n <= runs; ++n) {
      change_source(n);
      copy(dst_, state(n - 1));
      std::vector<std::string> argv{"-q"};
      argv.insert(argv.end(), args.begin(), args.end());
      argv.push_back(src_);
      argv.push_back(dst_);
      CommandResult r = run_sparsync(argv);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      ASSERT_EQ(first_difference(src_, dst_), std::nullopt);
    }
  }

  std::string state(int n) const { return dir_.file("state" + std::to_string(n) + ".img"); }
  std::string generation(uint64_t seq) const { return generation_of(dst_, seq); }

  void expect_state(int n) {
    EXPECT_EQ(file_size(dst_), file_size(state(n)));
    EXPECT_EQ(first_difference(state(n), dst_), std::nullopt) << "the target is state " << n;
  }

  TempDir dir_;
  std::string src_, dst_;
};

TEST_F(Generations, ThreeRunsWithKeep3AreEachRestoredByteForByte) {
  successive_runs(3);
  ASSERT_EQ(::unlink(src_.c_str()), 0);  // no source from here on
  for (int back = 1; back <= 3; ++back) {
    CommandResult r = run_sparsync({"--rollback", dst_, "--to", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.mentions("rolled back " + dst_ + " to its state as of ")) << r.out;
    EXPECT_TRUE(
        r.mentions(std::to_string(3 - back) + (3 - back == 1 ? " kept generation" : " kept generations") + " left"))
        << r.out;
    expect_state(3 - back);
  }
  CommandResult none = run_sparsync({"--rollback", dst_, "--to", "1"});
  EXPECT_EQ(none.exit_code, 4);
  EXPECT_TRUE(none.mentions("it keeps no generations")) << none.err;
}

TEST_F(Generations, ToKGoesStraightToTheStateKRunsBack) {
  successive_runs(3);
  CommandResult r = run_sparsync({"--rollback", dst_, "--to", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.mentions("(3 runs back)")) << r.out;
  expect_state(0);
  EXPECT_FALSE(exists(generation(1)));
  EXPECT_FALSE(exists(generation(3)));
}

TEST_F(Generations, KeepRotatesOutTheOldestAndStatusListsTheRest) {
  successive_runs(4, {"--keep", "2"});
  EXPECT_FALSE(exists(generation(1)));
  EXPECT_FALSE(exists(generation(2)));
  EXPECT_TRUE(exists(generation(3)));
  EXPECT_TRUE(exists(generation(4)));
  CommandResult status = run_sparsync({"--status", dst_});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(status.mentions("2 kept generations (sparsync --rollback " + dst_ + " --to K):")) << status.out;
  EXPECT_TRUE(status.mentions("  K=1: its state as of ")) << status.out;
  EXPECT_TRUE(status.mentions("  K=2: its state as of ")) << status.out;
  EXPECT_FALSE(status.mentions("K=3")) << status.out;
  CommandResult far = run_sparsync({"--rollback", dst_, "--to", "3"});
  EXPECT_EQ(far.exit_code, 4);
  EXPECT_TRUE(far.mentions("it keeps only 2 generations")) << far.err;
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt) << "a refused rollback changes nothing";
}

// --status --json: the same facts, exact, for scripts.
TEST_F(Generations, StatusAsJsonListsTheGenerationsExactly) {
  successive_runs(4, {"--keep", "2"});
  CommandResult status = run_sparsync({"--status", "--json", dst_});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  nlohmann::json j = nlohmann::json::parse(status.out);
  EXPECT_EQ(j["target"], dst_);
  EXPECT_EQ(j["state"], "complete");
  EXPECT_TRUE(j["checkpoint"].is_null());
  EXPECT_TRUE(j["undo"].is_null());
  EXPECT_TRUE(j["synced"].is_null()) << "no run with --changes";
  EXPECT_EQ(j["rollback_interrupted"], false);
  ASSERT_EQ(j["generations"].size(), 2u) << status.out;
  // K=1 is the state before the last run (state 3), K=2 the one before.
  EXPECT_EQ(j["generations"][0]["k"], 1);
  EXPECT_EQ(j["generations"][0]["size"], file_size(state(3)));
  EXPECT_EQ(j["generations"][1]["k"], 2);
  EXPECT_EQ(j["generations"][1]["size"], file_size(state(2)));
  EXPECT_LE(j["generations"][1]["state_as_of_unix"], j["generations"][0]["state_as_of_unix"]);
  EXPECT_GT(j["generations"][0]["bytes"].get<uint64_t>(), 0u);

  std::ofstream(checkpoint_path(dst_, false)) << "not a checkpoint";
  nlohmann::json torn = nlohmann::json::parse(run_sparsync({"--status", "--json", dst_}).out);
  EXPECT_EQ(torn["state"], "incomplete");
  EXPECT_EQ(torn["checkpoint"]["unreadable"], true);
  EXPECT_EQ(torn["checkpoint"]["record"], checkpoint_path(dst_, false));
}

TEST_F(Generations, ARunWithoutKeepKeepsAsManyAsTheTargetHas) {
  successive_runs(2, {"--keep", "2"});
  change_source(3);
  copy(dst_, state(2));
  CommandResult r = run_sparsync({"-q", src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(exists(generation(1)));
  EXPECT_TRUE(exists(generation(2)));
  EXPECT_TRUE(exists(generation(3)));
  CommandResult back = run_sparsync({"--rollback", dst_, "--to", "2"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  expect_state(1);
}

TEST_F(Generations, ToATimeGivesTheStateThen) {
  successive_runs(1);
  // The next run starts in a later second than the first one completed.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const time_t between = ::time(nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  change_source(2);
  copy(dst_, state(1));
  ASSERT_EQ(run_sparsync({"-q", "--keep", "3", src_, dst_}).exit_code, 0);
  change_source(3);
  copy(dst_, state(2));
  ASSERT_EQ(run_sparsync({"-q", "--keep", "3", src_, dst_}).exit_code, 0);
  // At `between` the target held what run 1 left: state 1.
  CommandResult r = run_sparsync({"--rollback", dst_, "--to", "@" + std::to_string(between)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.mentions("(2 runs back)")) << r.out;
  expect_state(1);
  // Before the oldest kept state began, nothing is known.
  CommandResult early = run_sparsync({"--rollback", dst_, "--to", "@1000000000"});
  EXPECT_EQ(early.exit_code, 4);
  EXPECT_TRUE(early.mentions("its oldest kept state is as of")) << early.err;
  // Now: nothing newer to undo.
  CommandResult now = run_sparsync({"--rollback", dst_, "--to", "@" + std::to_string(::time(nullptr) + 60)});
  EXPECT_EQ(now.exit_code, 0) << now.err;
  EXPECT_TRUE(now.mentions("already holds its state as of")) << now.out;
  expect_state(1);
}

// A rollback that stopped after marking its generations (its first durable
// step) leaves the target between states: syncs refuse it, --status says so,
// and the next --rollback finishes exactly what was asked.
TEST_F(Generations, AnInterruptedRollbackBlocksSyncsAndIsFinishedByTheNext) {
  successive_runs(3);
  const std::string journal = journal_of(dst_);
  ASSERT_EQ(::rename(generation(3).c_str(), (journal + ".undoing3").c_str()), 0);
  ASSERT_EQ(::rename(generation(2).c_str(), (journal + ".undoing2").c_str()), 0);
  // Half of the newest one written back already, as a crash would leave it:
  // the replay sizes the file first, then writes its records in order.
  resize(dst_, file_size(state(2)));
  ASSERT_EQ(
      run_command({"/bin/dd", "if=" + state(2), "of=" + dst_, "bs=1M", "count=8", "conv=notrunc,sparse", "status=none"})
          .exit_code,
      0);
  CommandResult sync = run_sparsync({src_, dst_});
  EXPECT_EQ(sync.exit_code, 4);
  EXPECT_TRUE(
      sync.mentions("a rollback of it to a kept generation was interrupted; finish it with sparsync "
                    "--rollback " +
                    dst_))
      << sync.err;
  CommandResult status = run_sparsync({"--status", dst_});
  EXPECT_TRUE(status.mentions("a rollback of it to a kept generation was interrupted")) << status.out;
  CommandResult r = run_sparsync({"--rollback", dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.mentions("finished the interrupted rollback of " + dst_)) << r.out;
  EXPECT_TRUE(r.mentions("1 kept generation left")) << r.out;
  expect_state(1);
  CommandResult last = run_sparsync({"--rollback", dst_, "--to", "1"});
  ASSERT_EQ(last.exit_code, 0) << last.err;
  expect_state(0);
}

TEST_F(Generations, NoUndoIsRefusedWhileGenerationsAreKeptUnlessKeep0) {
  successive_runs(2);
  change_source(3);
  copy(dst_, state(2));
  CommandResult refused = run_sparsync({"--no-undo", src_, dst_});
  EXPECT_EQ(refused.exit_code, 4);
  EXPECT_TRUE(refused.mentions("refusing --no-undo onto " + dst_ + ": it has 2 kept generations")) << refused.err;
  expect_state(2);
  CommandResult dropped = run_sparsync({"--no-undo", "--keep", "0", src_, dst_});
  ASSERT_EQ(dropped.exit_code, 0) << dropped.err;
  EXPECT_TRUE(dropped.mentions("removed the 2 kept generations of " + dst_ + " (--keep 0)")) << dropped.err;
  EXPECT_FALSE(exists(generation(1)));
  EXPECT_FALSE(exists(generation(2)));
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
  CommandResult usage = run_sparsync({"--no-undo", "--keep", "2", src_, dst_});
  EXPECT_EQ(usage.exit_code, 2);
}

TEST_F(Generations, JsonAndMetricsReportTheJournalAndTheGenerations) {
  successive_runs(1);
  change_source(2);
  const std::string metrics = dir_.file("sync.prom");
  CommandResult r = run_sparsync({"--json", "--keep", "3", "--metrics-file", metrics, src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.mentions("\"generations_kept\":2")) << r.out;
  EXPECT_EQ(r.out.find("\"undo_bytes\":0"), std::string::npos) << r.out;
  const uint64_t kept = file_size(generation(2));
  EXPECT_TRUE(r.mentions("\"undo_bytes\":" + std::to_string(kept))) << r.out;
  const std::string text = read_text(metrics);
  EXPECT_NE(text.find("sparsync_undo_generations_kept{target=\"" + dst_ + "\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("sparsync_undo_journal_bytes{target=\"" + dst_ + "\"} " + std::to_string(kept) + "\n"),
            std::string::npos)
      << text;
}

// A kept generation was whole when kept: a record that fails its checksum
// is damage, found before anything changes; the newer ones still work.
TEST_F(Generations, ADamagedGenerationIsRefusedBeforeAnythingChanges) {
  successive_runs(2);
  const std::string oldest = generation(1);
  std::vector<uint8_t> bytes = read_all(oldest);
  ASSERT_GT(bytes.size(), 200u);
  bytes[bytes.size() / 2] ^= 0x40;
  write_all(oldest, bytes);
  copy(dst_, dir_.file("now.img"));
  CommandResult r = run_sparsync({"--rollback", dst_, "--to", "2"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_TRUE(r.mentions("its kept generation " + oldest + " is damaged")) << r.err;
  EXPECT_EQ(first_difference(dir_.file("now.img"), dst_), std::nullopt) << "refused before any change";
  EXPECT_TRUE(exists(generation(2)));
  CommandResult newer = run_sparsync({"--rollback", dst_, "--to", "1"});
  ASSERT_EQ(newer.exit_code, 0) << newer.err;
  expect_state(1);
}

// A symlink planted at a generation's name is no generation: never counted,
// never applied, never followed, never removed.
TEST_F(Generations, APlantedSymlinkIsNoGeneration) {
  const std::string victim = dir_.file("victim");
  write_all(victim, {1, 2, 3});
  ASSERT_EQ(::symlink(victim.c_str(), generation(99).c_str()), 0);
  successive_runs(2, {"--keep", "1"});
  EXPECT_TRUE(exists(generation(2)));
  EXPECT_FALSE(exists(generation(100)));
  CommandResult r = run_sparsync({"--rollback", dst_, "--to", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_state(1);
  EXPECT_EQ(read_all(victim), (std::vector<uint8_t>{1, 2, 3}));
}

}  // namespace
}  // namespace sparsync::testing
