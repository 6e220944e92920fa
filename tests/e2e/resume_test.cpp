// Resume end to end, local (pipe) mode: the built binary is killed or
// interrupted mid-run, and the next run (or the automatic retry) continues
// from the target's checkpoint and finishes byte-identical, re-sending
// nothing below the checkpoint. Also: --restart, a checkpoint of another
// source, torn and corrupt checkpoint files, and --verify catching a target
// corrupted behind sparsync's back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/checkpoint_store.h"
#include "support/command.h"
#include "support/files.h"
#include "support/loop_device.h"
#include "support/process.h"
#include "support/sizes.h"

namespace sparsync::testing {
namespace {

constexpr uint64_t kSize = 256 * kMiB;
constexpr uint64_t kInterval = 8 * kMiB;
constexpr uint64_t kStopAt = 128 * kMiB;  // target bytes allocated when we strike
// st_blocks counts the filesystem's own extent blocks and the one 1 MiB
// DATA frame a SIGKILL may cut in the middle of its pwrite: 2 MiB covers both.
constexpr uint64_t kAllocSlack = 2 * kMiB;

nlohmann::json parse_json(const CommandResult& r) {
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "stdout is not one JSON object: " << r.out << "\n" << r.err;
  return j;
}

uint64_t allocated(const std::string& path) { return exists(path) ? allocated_bytes(path) : 0; }

std::optional<CheckpointRecord> record_of(const std::string& target) {
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  EXPECT_TRUE(load_checkpoint(checkpoint_path(target, false), &rec, &corrupt).is_ok());
  EXPECT_FALSE(corrupt);
  return rec;
}

bool has_line(const CommandResult& r, const std::string& needle) {
  for (const auto& l : r.err_lines())
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

class ResumeLocal : public ::testing::Test {
 protected:
  // One dense 256 MiB source for the whole suite (building it costs more
  // than a sync); tests only read it.
  static void SetUpTestSuite() {
    source_dir_ = new TempDir();
    SparseImage(source_dir_->file("src.img"), kSize).data(0, kSize, 11);
  }
  static void TearDownTestSuite() {
    delete source_dir_;
    source_dir_ = nullptr;
  }
  void SetUp() override {
    src_ = source_dir_->file("src.img");
    dst_ = dir_.file("dst.img");
  }

  std::unique_ptr<Process> start(std::vector<std::string> args, const std::string& src = "") {
    std::vector<std::string> argv{SPARSYNC_BINARY, "--checkpoint-interval", "8M", "--checkpoint-seconds", "1000"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(src.empty() ? src_ : src);
    argv.push_back(dst_);
    return Process::start(argv);
  }
  // A run to be struck mid-way: throttled to about 2 s for the image, so the
  // strike lands mid-run on an idle machine and a loaded one alike (unthrottled,
  // a local copy of 256 MiB can end between two looks at the target).
  std::unique_ptr<Process> start_to_interrupt(std::vector<std::string> args, const std::string& src = "") {
    args.insert(args.end(), {"--bwlimit", "128M"});
    return start(std::move(args), src);
  }
  CommandResult sync(std::vector<std::string> args, const std::string& src = "") {
    auto p = start(std::move(args), src);
    auto r = p->wait(60);
    EXPECT_TRUE(r.has_value()) << "sparsync hung";
    return r.value_or(CommandResult{});
  }
  // Waits until the target holds kStopAt bytes; returns what it holds then.
  // Fails the test when the run ended first (it was too fast to catch).
  uint64_t wait_for_progress(Process& p) {
    uint64_t seen = 0;
    bool ok = wait_until([&] { return (seen = allocated(dst_)) >= kStopAt || !p.running(); }, 30);
    EXPECT_TRUE(ok && p.running()) << "the run ended or stalled before " << kStopAt << " bytes; saw " << seen;
    return seen;
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
  // A run stopped with SIGINT, leaving a checkpoint; returns its offset.
  uint64_t interrupted_run(const std::string& src = "") {
    auto p = start_to_interrupt({}, src);
    wait_for_progress(*p);
    p->signal(SIGINT);
    auto r = p->wait(30);
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(r ? r->exit_code : -2, 8) << (r ? r->err : "");
    auto rec = record_of(dst_);
    EXPECT_TRUE(rec.has_value());
    return rec ? rec->durable_offset : 0;
  }
  void expect_identical(const std::string& src = "") {
    EXPECT_EQ(first_difference(src.empty() ? src_ : src, dst_), std::nullopt);
    EXPECT_FALSE(exists(checkpoint_path(dst_, false))) << "a finished run leaves no record";
  }

  static TempDir* source_dir_;
  TempDir dir_;
  std::string src_, dst_;
};
TempDir* ResumeLocal::source_dir_ = nullptr;

// A killed target process cannot record what it wrote after its last
// checkpoint, and its own writes cannot be told from another writer's (both
// move the target's ctime): the next run compares from the start, says why,
// and still sends only what differs.
TEST_F(ResumeLocal, KilledServerExits5AndTheRerunComparesFromTheStart) {
  auto p = start_to_interrupt({"--retries", "0"});
  pid_t child = server_child(*p);
  ASSERT_GT(child, 0);
  uint64_t held = wait_for_progress(*p);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  auto r = p->wait(30);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 5) << r->err;
  EXPECT_NE(run_sparsync({"--status", dst_}).out.find("incomplete"), std::string::npos);
  ASSERT_TRUE(record_of(dst_).has_value());

  CommandResult again = sync({"--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  expect_identical();
  auto j = parse_json(again);
  RecordProperty("target_held_at_kill", std::to_string(held));
  EXPECT_EQ(j["resumed_from"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["checkpoint_ignored"], "target-changed") << j.dump();
  EXPECT_TRUE(has_line(again, "the target changed since the checkpoint")) << again.err;
  EXPECT_EQ(j["bytes_scanned"].get<uint64_t>(), kSize);
  // What the killed server had written is compared, not sent again.
  EXPECT_LE(j["data_bytes"].get<uint64_t>() + held, kSize + kAllocSlack);
  EXPECT_GT(j["unchanged_blocks"].get<uint64_t>(), 0u);
  EXPECT_NE(run_sparsync({"--status", dst_}).out.find("complete (no interrupted sync"), std::string::npos);
}

TEST_F(ResumeLocal, KilledServerIsRetriedByTheSameRun) {
  auto p = start_to_interrupt({"--json", "--retry-wait", "0.2"});
  pid_t child = server_child(*p);
  ASSERT_GT(child, 0);
  uint64_t held = wait_for_progress(*p);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  auto r = p->wait(60);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->exit_code, 0) << r->err;
  expect_identical();
  EXPECT_TRUE(has_line(*r, "retry")) << r->err;
  auto j = parse_json(*r);
  EXPECT_TRUE(j["ok"].get<bool>());
  // Mostly the kill lands in a write after the last checkpoint, so the retry
  // finds the target changed since it and compares from the start (sending
  // only what the killed server had not written). A kill right after a
  // checkpoint, before the next write, leaves the target as recorded: the
  // retry resumes there. Either way nothing the target holds is sent again.
  const std::string ignored = j["checkpoint_ignored"].is_string() ? j["checkpoint_ignored"].get<std::string>() : "";
  const uint64_t resumed = j.value("resumed_from", uint64_t{0});
  if (ignored.empty()) {
    EXPECT_GT(resumed, 0u) << j.dump();
    EXPECT_LE(j["data_bytes"].get<uint64_t>(), kSize - resumed) << j.dump();
  } else {
    EXPECT_EQ(ignored, "target-changed") << j.dump();
    EXPECT_EQ(resumed, 0u) << j.dump();
    EXPECT_LE(j["data_bytes"].get<uint64_t>() + held, kSize + kAllocSlack) << j.dump();
  }
}

TEST_F(ResumeLocal, KilledClientThenRerunResumes) {
  auto p = start_to_interrupt({});
  pid_t child = server_child(*p);
  ASSERT_GT(child, 0);
  uint64_t held = wait_for_progress(*p);
  ASSERT_TRUE(p->signal(SIGKILL));
  auto r = p->wait(30);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, -1);
  // The orphaned server sees its input end and stops; a second writer on the
  // target while the rerun starts is not what this test is about.
  EXPECT_TRUE(wait_until([&] { return !pid_alive(child); }, 30)) << "the orphaned server kept running";
  EXPECT_NE(run_sparsync({"--status", dst_}).out.find("incomplete"), std::string::npos);

  CommandResult again = sync({"--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  expect_identical();
  auto j = parse_json(again);
  uint64_t resumed = j["resumed_from"];
  EXPECT_GT(resumed, 0u);
  EXPECT_GE(resumed + kInterval + kAllocSlack, held);
  EXPECT_LE(j["data_bytes"].get<uint64_t>(), kSize - resumed);
}

TEST_F(ResumeLocal, SigintCheckpointsExits8AndTheRerunResumes) {
  auto p = start_to_interrupt({});
  uint64_t held = wait_for_progress(*p);
  ASSERT_TRUE(p->signal(SIGINT));
  auto r = p->wait(30);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 8) << r->err;
  auto lines = r->err_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.size(), 1u) << r->err;
  EXPECT_NE(lines.back().find("resume"), std::string::npos) << r->err;
  auto rec = record_of(dst_);
  ASSERT_TRUE(rec.has_value());
  // The final checkpoint covers everything sent before the signal, so at
  // least all the target had written when we signalled.
  EXPECT_GE(rec->durable_offset + kAllocSlack, held);
  EXPECT_LT(rec->durable_offset, kSize);
  CommandResult status = run_sparsync({"--status", dst_});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.out.find("incomplete"), std::string::npos) << status.out;

  CommandResult again = sync({"--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  expect_identical();
  auto j = parse_json(again);
  EXPECT_EQ(j["resumed_from"].get<uint64_t>(), rec->durable_offset);
  EXPECT_EQ(j["bytes_scanned"].get<uint64_t>(), kSize - rec->durable_offset);
  EXPECT_LE(j["data_bytes"].get<uint64_t>(), kSize - rec->durable_offset);
  status = run_sparsync({"--status", dst_});
  EXPECT_NE(status.out.find("complete (no interrupted sync"), std::string::npos) << status.out;
}

TEST_F(ResumeLocal, RestartIgnoresAValidCheckpoint) {
  uint64_t at = interrupted_run();
  ASSERT_GT(at, 0u);
  CommandResult r = sync({"--json", "--restart"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_identical();
  auto j = parse_json(r);
  EXPECT_EQ(j["resumed_from"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["bytes_scanned"].get<uint64_t>(), kSize);
  EXPECT_TRUE(has_line(r, "--restart")) << r.err;
}

TEST_F(ResumeLocal, CheckpointOfAnotherSourceIsIgnoredWithANotice) {
  uint64_t at = interrupted_run();
  ASSERT_GT(at, 0u);
  std::string other = dir_.file("other.img");
  SparseImage(other, kSize).data(0, 4 * kMiB, 99).data(200 * kMiB, kMiB, 98);
  CommandResult r = sync({"--json"}, other);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_identical(other);
  auto j = parse_json(r);
  EXPECT_EQ(j["resumed_from"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["bytes_scanned"].get<uint64_t>(), kSize);
  EXPECT_TRUE(has_line(r, "does not match this source")) << r.err;
}

class CorruptRecord : public ResumeLocal, public ::testing::WithParamInterface<bool> {};

TEST_P(CorruptRecord, IsIgnoredAndTheRunComparesFromTheStart) {
  uint64_t at = interrupted_run();
  ASSERT_GT(at, 0u);
  std::string cp = checkpoint_path(dst_, false);
  std::vector<uint8_t> bytes = read_all(cp);
  if (GetParam()) {
    bytes.resize(bytes.size() / 2);  // torn
  } else {
    bytes[bytes.size() / 2] ^= 0x10;  // corrupt, same length
  }
  write_all(cp, bytes);
  CommandResult status = run_sparsync({"--status", dst_});
  EXPECT_NE(status.out.find("unreadable"), std::string::npos) << status.out;

  CommandResult r = sync({"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_identical();
  auto j = parse_json(r);
  EXPECT_EQ(j["resumed_from"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["bytes_scanned"].get<uint64_t>(), kSize);
  // Compared from the start: what the interrupted run wrote is not re-sent.
  EXPECT_LE(j["data_bytes"].get<uint64_t>(), kSize - at);
  auto lines = r.err_lines();
  EXPECT_EQ(lines.size(), 1u) << r.err;
  EXPECT_TRUE(has_line(r, "ignoring unreadable checkpoint")) << r.err;
}

INSTANTIATE_TEST_SUITE_P(TornOrFlipped, CorruptRecord, ::testing::Bool(),
                         [](const auto& param_info) { return param_info.param ? "Torn" : "Flipped"; });

TEST_F(ResumeLocal, VerifyOnACleanSyncMatches) {
  std::string src = dir_.file("small.img");
  SparseImage(src, 64 * kMiB).data(0, kMiB, 3).data(40 * kMiB, 3 * kMiB, 4).data(64 * kMiB - 4096, 4096, 5);
  CommandResult r = sync({"--json", "--verify"}, src);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_identical(src);
  auto j = parse_json(r);
  EXPECT_TRUE(j["verified"].get<bool>());
  EXPECT_TRUE(j["verify_match"].get<bool>());
  CommandResult sum = run_command({"/usr/bin/sha256sum", src});
  ASSERT_EQ(sum.exit_code, 0);
  EXPECT_EQ(j["sha256"].get<std::string>(), sum.out.substr(0, 64));
}

// Issue 15 item 5: the record binds the target's state, so a target written
// or truncated behind sparsync's back between an interrupted run and its
// resume is compared from the start, and the run ends identical.
TEST_F(ResumeLocal, TargetWrittenBelowTheCheckpointIsComparedFromTheStart) {
  uint64_t at = interrupted_run();
  ASSERT_GT(at, 70 * kMiB);
  flip_byte(dst_, 70 * kMiB + 12345);
  CommandResult r = sync({"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_identical();
  auto j = parse_json(r);
  EXPECT_EQ(j["resumed_from"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["checkpoint_ignored"], "target-changed") << j.dump();
  EXPECT_GE(j["data_bytes"].get<uint64_t>(), 4096u) << "the flipped block was sent";
  EXPECT_TRUE(has_line(r, "the target changed since the checkpoint")) << r.err;
}

TEST_F(ResumeLocal, TargetTruncatedAfterAnInterruptedRunIsComparedFromTheStart) {
  uint64_t at = interrupted_run();
  ASSERT_GT(at, 0u);
  // Cut back and grown again to the same size: the size alone would not tell.
  ASSERT_EQ(::truncate(dst_.c_str(), static_cast<off_t>(at / 2)), 0);
  ASSERT_EQ(::truncate(dst_.c_str(), static_cast<off_t>(kSize)), 0);
  CommandResult r = sync({"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_identical();
  auto j = parse_json(r);
  EXPECT_EQ(j["resumed_from"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["checkpoint_ignored"], "target-changed") << j.dump();
}

// Issue 15 item 6: `touch -r` puts the mtime back after a change; the ctime
// it cannot put back still tells the record that the source changed.
TEST_F(ResumeLocal, SourceChangedWithItsMtimeRestoredIsComparedFromTheStart) {
  std::string src = dir_.file("own-src.img");
  ASSERT_EQ(run_command({"/bin/cp", "--sparse=always", src_, src}).exit_code, 0);
  uint64_t at = interrupted_run(src);
  ASSERT_GT(at, 10 * kMiB);
  struct stat before {};
  ASSERT_EQ(::stat(src.c_str(), &before), 0);
  flip_byte(src, 4096 * 3 + 7);  // below the checkpoint
  // What `touch -r` does: the old times back, to the nanosecond.
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, src.c_str(), times, 0), 0);
  struct stat after {};
  ASSERT_EQ(::stat(src.c_str(), &after), 0);
  ASSERT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  CommandResult r = sync({"--json"}, src);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_identical(src);
  auto j = parse_json(r);
  EXPECT_EQ(j["resumed_from"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["checkpoint_ignored"], "source-changed") << j.dump();
}

// Below a checkpoint a resumed run trusts the record. A block device target
// has no ctime that moves when it is written, so a write there behind
// sparsync's back is not seen by the record; --verify catches it.
TEST_F(ResumeLocal, VerifyCatchesABlockDeviceCorruptedBelowTheCheckpoint) {
  std::string backing = dir_.file("dev.img");
  SparseImage(backing, kSize);
  std::string why;
  auto lo = LoopDevice::attach(backing, &why);
  if (!lo) GTEST_SKIP() << why;
  ::setenv("SPARSYNC_STATE_DIR", dir_.file("state").c_str(), 1);
  dst_ = lo->path();
  auto p = start_to_interrupt({});
  ASSERT_TRUE(wait_until([&] { return allocated(backing) >= kStopAt || !p->running(); }, 30));
  p->signal(SIGINT);
  auto stopped = p->wait(30);
  ASSERT_TRUE(stopped.has_value());
  ASSERT_EQ(stopped->exit_code, 8) << stopped->err;
  const uint64_t bad = 70 * kMiB + 12345;
  flip_byte(dst_, bad);
  CommandResult r = sync({"--json", "--verify"});
  ::unsetenv("SPARSYNC_STATE_DIR");
  EXPECT_EQ(r.exit_code, 7) << r.err;
  auto j = parse_json(r);
  EXPECT_FALSE(j["ok"].get<bool>());
  EXPECT_EQ(j["exit_code"].get<int>(), 7);
  const std::string region = "region at offset " + std::to_string(64 * kMiB);  // 64 MiB regions
  EXPECT_TRUE(has_line(r, region)) << r.err;
  EXPECT_NE(j["error"].get<std::string>().find(region), std::string::npos) << j.dump();
  // The advice in the message works: --restart re-compares everything.
  ::setenv("SPARSYNC_STATE_DIR", dir_.file("state").c_str(), 1);
  CommandResult fixed = sync({"--verify", "--restart"});
  ::unsetenv("SPARSYNC_STATE_DIR");
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
}

}  // namespace
}  // namespace sparsync::testing
