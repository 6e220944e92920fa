// Issue 15, end to end with the built binary on this host: no mistake and no
// planted name makes sparsync destroy a file, nothing changes before every
// check that could refuse the run, and exit 0 never hides a source that
// changed under the run or another run's half-written image. Each test names
// the item it guards; each failed on the code before the fix.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/checkpoint_store.h"
#include "common/device.h"
#include "support/command.h"
#include "support/files.h"
#include "support/loop_device.h"
#include "support/process.h"
#include "support/sizes.h"

namespace sparsync::testing {
namespace {

bool trust_has_line(const CommandResult& r, const std::string& needle) {
  for (const auto& l : r.err_lines())
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

// Writes one byte in place (no truncation, unlike SparseImage).
void trust_poke(const std::string& path, uint64_t offset, uint8_t byte) {
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  EXPECT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

mode_t trust_mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Runs the built binary as nobody (root would ignore the permissions these
// tests are about); nullopt when that is impossible here.
std::optional<CommandResult> trust_as_nobody(const std::vector<std::string>& args) {
  if (::geteuid() != 0 || ::access("/usr/bin/setpriv", X_OK) != 0) return std::nullopt;
  std::vector<std::string> argv{"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                SPARSYNC_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = run_command(argv);
  if (r.exit_code == 127 || r.err.find("setpriv:") != std::string::npos) return std::nullopt;
  return r;
}

class Trust : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.file("src.img");
    dst_ = dir_.file("dst.img");
    SparseImage(src_, 8 * kMiB).data(0, kMiB, 1).data(5 * kMiB, kMiB, 2);
  }
  TempDir dir_;
  std::string src_, dst_;
};

// Item 1: another user who can write the target's directory plants a
// symlink at the name of the record's temporary (and at the record itself);
// the run must not write through it.
TEST_F(Trust, PlantedSymlinksBesideTheTargetAreNeverWrittenThrough) {
  std::string victim = dir_.file("victim");
  const std::vector<uint8_t> precious(8192, 0x5a);
  write_all(victim, precious);
  std::string record = checkpoint_path(dst_, false);
  ASSERT_EQ(::symlink(victim.c_str(), (record + ".tmp").c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), record.c_str()), 0);
  CommandResult r = run_sparsync({"--retries=0", src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
  EXPECT_EQ(read_all(victim), precious) << "a file outside the run was written";
}

// Item 1: a symlink at the target's own name that another user owns is not
// followed (root would otherwise overwrite whatever it points to).
TEST_F(Trust, ATargetSymlinkOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a symlink owned by another user";
  std::string victim = dir_.file("victim");
  const std::vector<uint8_t> precious(8192, 0x5a);
  write_all(victim, precious);
  ASSERT_EQ(::symlink(victim.c_str(), dst_.c_str()), 0);
  ASSERT_EQ(::lchown(dst_.c_str(), 65534, 65534), 0);
  CommandResult r = run_sparsync({"--retries=0", src_, dst_});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("symlink owned by uid 65534"), std::string::npos) << r.err;
  EXPECT_EQ(read_all(victim), precious);
  // A symlink of our own (root's) is followed, as cp and dd would.
  ASSERT_EQ(::unlink(dst_.c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), dst_.c_str()), 0);
  r = run_sparsync({"--retries=0", src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src_, victim), std::nullopt);
}

// Red team: another user who can write the target's directory plants a
// record that claims the whole image is done. Every field of it can be read
// off `stat` of the source and the target, and its checksum is no secret;
// trusted, it made the next run send nothing and exit 0 over a stale target.
TEST_F(Trust, ARecordPlantedByAnotherUserIsNeverResumedFrom) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a file owned by another user";
  ASSERT_EQ(run_sparsync({"--retries=0", src_, dst_}).exit_code, 0);
  trust_poke(src_, 17, 0xee);
  CheckpointRecord forged{"", 8 * kMiB, 4096, proto::HashKind::kXxh3_128, 8 * kMiB, 0, ""};
  {  // what anyone may learn with stat(2); the devices are closed (unlocked) again
    auto source = FileDevice::open(src_, false, ErrorKind::kSource);
    ASSERT_TRUE(source.is_ok()) << source.status().message();
    auto target = FileDevice::open(dst_, false, ErrorKind::kTarget);
    ASSERT_TRUE(target.is_ok()) << target.status().message();
    forged.source_id = source.value()->identity();
    forged.target_id = target.value()->identity();
  }
  std::string record = checkpoint_path(dst_, false);
  ASSERT_TRUE(save_checkpoint(record, forged).is_ok());
  ASSERT_EQ(::chown(record.c_str(), 65534, 65534), 0);
  CommandResult r = run_sparsync({"--retries=0", "--json", src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt) << "exit 0 over a target that differs";
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["resumed_from"].get<uint64_t>(), 0u);
  // The same record written by this user (or root) is a record.
  std::optional<CheckpointRecord> loaded;
  bool corrupt = true;
  ASSERT_TRUE(save_checkpoint(record, forged).is_ok());
  ASSERT_TRUE(load_checkpoint(record, &loaded, &corrupt).is_ok());
  EXPECT_TRUE(loaded.has_value());
  EXPECT_FALSE(corrupt);
}

// Item 2: where no record can be written, nothing of the target changes
// (it used to be truncated first), and --status does not call it complete.
TEST_F(Trust, AnUnwritableDirectoryRefusesBeforeTheTargetChanges) {
  std::string locked = dir_.file("locked");
  ASSERT_EQ(::mkdir(locked.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  std::string dst = locked + "/dst.img";
  const std::vector<uint8_t> old = pattern_bytes(7, 0, 12 * kMiB);  // larger than the source
  write_all(dst, old);
  ASSERT_EQ(::chown(dst.c_str(), 65534, 65534), 0);  // nobody may write the file, not the directory
  ASSERT_EQ(::chmod(src_.c_str(), 0644), 0);
  auto r = trust_as_nobody({"--retries=0", src_, dst});
  if (!r) GTEST_SKIP() << "cannot run sparsync as nobody here";
  EXPECT_EQ(r->exit_code, 4) << r->err;
  ASSERT_EQ(r->err_lines().size(), 1u) << r->err;
  // The undo journal is the first file the run creates beside the target
  // (docs/undo-journal.md), before the checkpoint record.
  EXPECT_NE(r->err.find("cannot create undo journal"), std::string::npos) << r->err;
  EXPECT_NE(r->err.find("make " + locked + " writable, or pass --no-undo"), std::string::npos) << r->err;
  EXPECT_EQ(read_all(dst), old) << "the target changed before the run was refused";
  // Without one, the checkpoint record is.
  auto no_undo = trust_as_nobody({"--retries=0", "--no-undo", src_, dst});
  ASSERT_TRUE(no_undo.has_value());
  EXPECT_EQ(no_undo->exit_code, 4) << no_undo->err;
  EXPECT_NE(no_undo->err.find("checkpoint record cannot be written"), std::string::npos) << no_undo->err;
  CommandResult status = run_sparsync({"--status", dst});
  EXPECT_NE(status.out.find("complete"), std::string::npos) << status.out;
  EXPECT_FALSE(exists(checkpoint_path(dst, false)));
}

// Item 2: stdin redirected from a file whose size --size contradicts is
// refused before the existing target is touched.
TEST_F(Trust, StdinSizeThatDisagreesWithTheRedirectIsRefusedFirst) {
  const std::vector<uint8_t> old = pattern_bytes(9, 0, 4 * kMiB);
  write_all(dst_, old);
  for (const char* size : {"4M", "16M"}) {
    SCOPED_TRACE(size);
    CommandResult r =
        run_command({"/bin/sh", "-c", std::string("exec \"$0\" --retries=0 - \"$1\" --size ") + size + " < \"$2\"",
                     SPARSYNC_BINARY, dst_, src_});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
    EXPECT_NE(r.err.find("but --size says"), std::string::npos) << r.err;
    EXPECT_EQ(read_all(dst_), old);
  }
}

// Item 3: a mistyped device name never becomes a regular file in /dev.
TEST_F(Trust, AMissingDeviceIsNeverCreatedAsAFileInDev) {
  const std::string typo = "/dev/sparsync-test-lop9-" + std::to_string(::getpid());
  CommandResult r = run_sparsync({"--retries=0", src_, typo});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("there is no block device " + typo), std::string::npos) << r.err;
  struct stat st {};
  EXPECT_NE(::lstat(typo.c_str(), &st), 0) << "a file was created in /dev";
  if (::lstat(typo.c_str(), &st) == 0) ::unlink(typo.c_str());
}

// A target with other names (a `cp -al` snapshot) would change under all of
// them: refused, and the other name keeps its bytes.
TEST_F(Trust, AHardLinkedTargetIsRefusedAndItsOtherNameKept) {
  const std::vector<uint8_t> old = pattern_bytes(12, 0, 8 * kMiB);
  write_all(dst_, old);
  std::string snapshot = dir_.file("daily.1.img");
  ASSERT_EQ(::link(dst_.c_str(), snapshot.c_str()), 0);
  CommandResult r = run_sparsync({"--retries=0", src_, dst_});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("has 2 hard links"), std::string::npos) << r.err;
  EXPECT_EQ(read_all(snapshot), old);
  EXPECT_FALSE(exists(checkpoint_path(dst_, false)));
  // A dry run writes nothing, so it may look.
  EXPECT_EQ(run_sparsync({"--retries=0", "--dry-run", src_, dst_}).exit_code, 0);
}

// Item 4: a new target is no more readable than its source; an existing one
// keeps its own mode.
TEST_F(Trust, ANewTargetGetsTheSourcesPermissionBits) {
  ASSERT_EQ(::chmod(src_.c_str(), 0600), 0);
  CommandResult r = run_sparsync({"--retries=0", src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(trust_mode_of(dst_), 0600u);
  ASSERT_EQ(::chmod(dst_.c_str(), 0640), 0);
  SparseImage(src_, 8 * kMiB).data(3 * kMiB, 4096, 3);
  r = run_sparsync({"--retries=0", src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(trust_mode_of(dst_), 0640u) << "an existing target keeps its mode";
  // Set-id bits are never copied onto a new image.
  ASSERT_EQ(::chmod(src_.c_str(), 04750), 0);
  std::string other = dir_.file("other.img");
  r = run_sparsync({"--retries=0", src_, other});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(trust_mode_of(other) & ~0022u, 0750u & ~0022u);
  EXPECT_EQ(trust_mode_of(other) & 07000u, 0u);
}

// Red team: a copy of a read-only source (0444, a golden image) was created
// 0444, and a replication user who is not root could then never open it
// again: the next night, and the retry of an interrupted run, failed with
// "Permission denied". Its owner keeps read and write.
TEST_F(Trust, ACopyOfAReadOnlySourceCanBeSyncedAgainByItsOwner) {
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0777), 0);
  ASSERT_EQ(::chmod(src_.c_str(), 0444), 0);
  auto r = trust_as_nobody({"--retries=0", src_, dst_});
  if (!r) GTEST_SKIP() << "cannot run sparsync as nobody here";
  ASSERT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(trust_mode_of(dst_) & 0600u, 0600u);
  EXPECT_EQ(trust_mode_of(dst_) & 0044u, 0044u & ~0022u) << "otherwise the source's bits";
  ASSERT_EQ(::chmod(src_.c_str(), 0644), 0);
  SparseImage(src_, 8 * kMiB).data(3 * kMiB, 4096, 3);
  ASSERT_EQ(::chmod(src_.c_str(), 0444), 0);
  r = trust_as_nobody({"--retries=0", src_, dst_});
  ASSERT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
}

// Item 7: a source written during the run fails with a line of its own
// (exit 3); the target stays resumable and the next run is identical.
TEST_F(Trust, ASourceWrittenDuringTheRunFailsAndTheNextRunIsIdentical) {
  std::string src = dir_.file("busy.img");
  SparseImage(src, 32 * kMiB).data(0, 32 * kMiB, 4);
  auto p =
      Process::start({SPARSYNC_BINARY, "--retries=0", "--bwlimit", "8M", "--checkpoint-interval", "4M", src, dst_});
  ASSERT_TRUE(p);
  ASSERT_TRUE(wait_until([&] { return exists(dst_) && allocated_bytes(dst_) >= 4 * kMiB; }, 30)) << p->stderr_so_far();
  trust_poke(src, kMiB + 17, 0xee);  // below what was sent: a torn copy
  auto r = p->wait(60);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 3) << r->err;
  EXPECT_TRUE(trust_has_line(*r, "changed while it was being read")) << r->err;
  EXPECT_EQ(r->out, "") << "no summary for a failed run";
  EXPECT_NE(run_sparsync({"--status", dst_}).out.find("incomplete"), std::string::npos);
  CommandResult again = run_sparsync({"--retries=0", "--json", src, dst_});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(first_difference(src, dst_), std::nullopt);
  auto j = nlohmann::json::parse(again.out);
  EXPECT_EQ(j["resumed_from"].get<uint64_t>(), 0u) << "the changed source is compared from the start";
}

// Item 7: a source that grows during the run is not synced at its old size.
TEST_F(Trust, ASourceThatGrowsDuringTheRunFails) {
  std::string src = dir_.file("growing.img");
  SparseImage(src, 16 * kMiB).data(0, 16 * kMiB, 6);
  auto p = Process::start({SPARSYNC_BINARY, "--retries=0", "--bwlimit", "8M", src, dst_});
  ASSERT_TRUE(p);
  ASSERT_TRUE(wait_until([&] { return exists(dst_) && allocated_bytes(dst_) >= 2 * kMiB; }, 30));
  ASSERT_EQ(::truncate(src.c_str(), static_cast<off_t>(20 * kMiB)), 0);
  auto r = p->wait(60);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 3) << r->err;
  EXPECT_TRUE(trust_has_line(*r, "changed while it was being read")) << r->err;
}

// Item 7: a block device source cannot be checked that way; one that another
// process holds open for writing is reported as live.
TEST_F(Trust, ABlockDeviceSourceOpenForWritingIsReportedLive) {
  std::string backing = dir_.file("backing.img");
  SparseImage(backing, 8 * kMiB).data(0, kMiB, 8);
  std::string why;
  auto lo = LoopDevice::attach(backing, &why);
  if (!lo) GTEST_SKIP() << why;
  auto writer = Process::start({"/bin/sh", "-c", "exec 3<>\"$0\"; exec sleep 60", lo->path()});
  ASSERT_TRUE(writer);
  const std::string held = "/proc/" + std::to_string(writer->pid()) + "/fd/3";
  ASSERT_TRUE(wait_until(
      [&] {
        struct stat st {};
        return ::lstat(held.c_str(), &st) == 0;
      },
      10));
  CommandResult r = run_sparsync({"--retries=0", "--json", lo->path(), dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(lo->path(), dst_), std::nullopt);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["source_live"].get<bool>()) << r.out;
  EXPECT_TRUE(trust_has_line(r, "is live (it is open for writing by pid " + std::to_string(writer->pid()))) << r.err;
  writer->signal(SIGKILL);
  writer->wait(10);
  r = run_sparsync({"--retries=0", "--json", lo->path(), dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(nlohmann::json::parse(r.out)["source_live"].get<bool>()) << r.err;
}

// Item 8: an image that another run is writing is not read as a source, and
// one another run is reading is not written.
TEST_F(Trust, AnImageAnotherRunWritesIsNotReadAndTheReverse) {
  std::string big = dir_.file("big.img");
  SparseImage(big, 16 * kMiB).data(0, 16 * kMiB, 10);
  auto first = Process::start({SPARSYNC_BINARY, "--retries=0", "--bwlimit", "4M", big, dst_});
  ASSERT_TRUE(first);
  ASSERT_TRUE(wait_until([&] { return exists(dst_) && allocated_bytes(dst_) > 0; }, 30));
  CommandResult r = run_sparsync({"--retries=0", dst_, dir_.file("copy.img")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("is being written by another sparsync run (pid "), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dir_.file("copy.img")));
  // The first run's source is being read: another run may not write it.
  r = run_sparsync({"--retries=0", src_, big});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("is being read by another sparsync run (pid "), std::string::npos) << r.err;
  ASSERT_TRUE(first->running()) << "the first run must outlast the others";
  auto done = first->wait(60);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->exit_code, 0) << done->err;
  EXPECT_EQ(first_difference(big, dst_), std::nullopt);
}

// Item 11: a FIFO with no writer is refused at once, not waited on forever.
TEST_F(Trust, AFifoSourceWithNoWriterIsRefusedAtOnce) {
  std::string fifo = dir_.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto p = Process::start({SPARSYNC_BINARY, "--retries=0", fifo, dst_});
  ASSERT_TRUE(p);
  auto r = p->wait(10);
  ASSERT_TRUE(r.has_value()) << "sparsync blocked opening the FIFO";
  EXPECT_EQ(r->exit_code, 3) << r->err;
  ASSERT_EQ(r->err_lines().size(), 1u) << r->err;
  EXPECT_NE(r->err.find("is a FIFO"), std::string::npos) << r->err;
  EXPECT_NE(r->err.find("sparsync - TARGET --size"), std::string::npos) << r->err;
}

// Red team: what is not an image is refused before it is opened, since
// opening is not harmless for everything (a watchdog is armed, a tape
// rewinds on close). Seen here through a FIFO at the target's name whose
// reader waits in open(): the open used to release it.
TEST_F(Trust, ANonImageTargetIsRefusedWithoutBeingOpened) {
  std::string fifo = dir_.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::atomic<bool> released{false};
  std::thread reader([&] {
    int fd = ::open(fifo.c_str(), O_RDONLY);  // blocks until someone opens it for writing
    released = true;
    if (fd >= 0) ::close(fd);
  });
  CommandResult r = run_sparsync({"--retries=0", src_, fifo});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("is a FIFO"), std::string::npos) << r.err;
  ::usleep(100000);
  EXPECT_FALSE(released.load()) << "sparsync opened the FIFO before refusing it";
  int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // let the reader go
  reader.join();
  if (w >= 0) ::close(w);
}

// Item 14: a lock held by some other program is called a process, in one
// line, without its command line.
TEST_F(Trust, AForeignLockHolderIsCalledAProcess) {
  write_all(dst_, std::vector<uint8_t>(4096, 1));
  auto holder = Process::start({"/usr/bin/flock", "-x", dst_, "/bin/sh", "-c", "echo held; exec sleep 60"});
  ASSERT_TRUE(holder);
  ASSERT_TRUE(wait_until([&] { return holder->stdout_so_far().find("held") != std::string::npos; }, 10));
  CommandResult r = run_sparsync({"--retries=0", src_, dst_});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("is locked by another process (pid "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("sparsync run"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("sleep 60"), std::string::npos) << "no command line pasted in: " << r.err;
}

// systemd-udevd holds LOCK_SH on a block device for as long as it probes
// it, after any writer closed it: a run right after another one meets it
// there. A holder that is no sparsync run and lets go within
// kForeignHolderSeconds is waited for; the refusal above comes only after.
TEST_F(Trust, ABriefForeignLockHolderIsWaitedFor) {
  auto sync_while_held_for_a_moment = [&](const std::string& target, const std::vector<std::string>& more) {
    auto holder = Process::start({"/usr/bin/flock", "-s", target, "/bin/sh", "-c", "echo held; exec sleep 1"});
    ASSERT_TRUE(holder);
    ASSERT_TRUE(wait_until([&] { return holder->stdout_so_far().find("held") != std::string::npos; }, 10));
    std::vector<std::string> args{"-q", "--retries=0"};
    args.insert(args.end(), more.begin(), more.end());
    args.push_back(src_);
    args.push_back(target);
    CommandResult r = run_sparsync(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(first_difference(src_, target), std::nullopt);
    EXPECT_TRUE(holder->wait(10).has_value());
  };
  write_all(dst_, std::vector<uint8_t>(8 * kMiB, 1));
  sync_while_held_for_a_moment(dst_, {});

  const std::string backing = dir_.file("disk.raw");
  SparseImage(backing, 8 * kMiB).data(0, 8 * kMiB, 3);
  std::string why;
  auto loop = LoopDevice::attach(backing, &why);
  if (!loop) GTEST_SKIP() << "the file case ran; no block device for the rest: " << why;
  TempDir state;
  ::setenv("SPARSYNC_STATE_DIR", state.path().c_str(), 1);
  sync_while_held_for_a_moment(loop->path(), {"--force"});
  ::unsetenv("SPARSYNC_STATE_DIR");
}

}  // namespace
}  // namespace sparsync::testing
