// `sparsync --rollback host:TARGET` over a real sshd, through the far side's
// server (PROTOCOL.md §4.18): an incremental push onto an existing target is
// killed mid-run (the client, or the far server), the source is removed, and
// the rollback over SSH returns the target to exactly the image it held
// before the run, prints its report and leaves nothing pending. A fenced far
// side (a forced command) rolls back inside its root only and not at all
// with --read-only; --to reaches the far side; a far host without sparsync
// gets this one uploaded; a far sparsync without the rollback feature is
// never sent ROLLBACK.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "common/checkpoint_store.h"
#include "support/files.h"
#include "support/process.h"
#include "support/sizes.h"
#include "support/sshd_test.h"
#include "support/undo_files.h"

namespace sparsync::testing {
namespace {

constexpr uint64_t kRollbackImage = 64 * kMiB;
constexpr uint64_t kRollbackPrevious = 48 * kMiB;  // the previous image was smaller: the run grows it
constexpr uint64_t kRollbackStrikeAt = 8 * kMiB;   // journal bytes when the run is killed

class SshRollback : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    root_ = dir_.file("root");
    ::mkdir(root_.c_str(), 0755);
    src_ = dir_.file("src.img");
    SparseImage(src_, kRollbackImage).data(0, kRollbackImage, 41);
  }
  // Last night's image at `target`, and a copy of it to compare with.
  void previous_image(const std::string& target) {
    SparseImage(target, kRollbackPrevious).data(0, 16 * kMiB, 42).data(24 * kMiB, 24 * kMiB, 43);
    prev_ = dir_.file("prev.img");
    ASSERT_EQ(run_command({"/bin/cp", "--sparse=always", target, prev_}).exit_code, 0);
  }
  // sparsync with the fixture's SSH options (and its HOME, no agent), the
  // far side run as `remote_path`.
  std::vector<std::string> argv(const std::vector<std::string>& args, const std::string& remote_path = "") {
    std::vector<std::string> a{"/usr/bin/env", "-u", "SSH_AUTH_SOCK", "HOME=" + sshd_->home(), SPARSYNC_BINARY};
    std::vector<std::string> ssh = sshd_->ssh_args();
    for (size_t i = 0; !remote_path.empty() && i + 1 < ssh.size(); ++i) {
      if (ssh[i] == "--remote-path") ssh[i + 1] = remote_path;
    }
    a.insert(a.end(), ssh.begin(), ssh.end());
    a.insert(a.end(), args.begin(), args.end());
    return a;
  }
  CommandResult rollback(const std::string& target, std::vector<std::string> extra = {},
                         const std::string& remote_path = "") {
    extra.insert(extra.begin(), "--rollback");
    extra.push_back(SshdFixture::remote(target));
    return run_command(argv(extra, remote_path));
  }
  // The real server, recording its pid in far_pid_file_ (to kill it).
  std::string recording_server() {
    std::string path = dir_.file("recording-server");
    std::ofstream(path) << "#!/bin/sh\necho $$ > '" << far_pid_file_ << "'\nexec '" << SPARSYNC_BINARY << "' \"$@\"\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }
  pid_t far_server_pid() {
    pid_t pid = -1;
    wait_until(
        [&] {
          std::ifstream in(far_pid_file_);
          return static_cast<bool>(in >> pid) && pid > 0;
        },
        20);
    return pid;
  }
  // Pushes src_ onto `target`, slowly, and kills the client (or, with
  // `kill_server`, the far server) with SIGKILL once the target's journal
  // holds kRollbackStrikeAt bytes; then waits for the far side to let go.
  void killed_push(const std::string& target, bool kill_server) {
    const std::string journal = journal_of(target);
    auto client = Process::start(
        argv({"--retries", "0", "--bwlimit", "16M", "--checkpoint-interval", "4M", src_, SshdFixture::remote(target)},
             kill_server ? recording_server() : ""));
    pid_t far = kill_server ? far_server_pid() : -1;
    if (kill_server) {
      ASSERT_GT(far, 0) << client->stderr_so_far();
    }
    uint64_t seen = 0;
    bool grew = wait_until(
        [&] {
          seen = exists(journal) ? file_size(journal) : 0;
          return seen >= kRollbackStrikeAt || !client->running();
        },
        60);
    ASSERT_TRUE(grew && client->running())
        << "the run ended before its journal reached " << kRollbackStrikeAt << " bytes; saw " << seen << "\n"
        << client->stderr_so_far();
    ASSERT_EQ(::kill(kill_server ? far : client->pid(), SIGKILL), 0);
    auto r = client->wait(30);
    ASSERT_TRUE(r.has_value());
    EXPECT_NE(r->exit_code, 0);
    // A far server whose client vanished writes its record and exits.
    ASSERT_TRUE(wait_until_unlocked(target, 30)) << "the far server still holds " << target;
    EXPECT_TRUE(exists(journal)) << "a killed run leaves its journal";
    EXPECT_NE(first_difference(prev_, target), std::nullopt) << "the run changed the target before it was killed";
  }
  // The rollback over SSH, without the source: exactly the previous image,
  // the report line on stdout, nothing pending; and a second one has nothing to do.
  void expect_rolled_back_over_ssh(const std::string& target) {
    ASSERT_EQ(::unlink(src_.c_str()), 0);
    CommandResult r = rollback(target);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "127.0.0.1: rolled back " + target + " to its state before the interrupted run: restored " +
                         r.out.substr(r.out.find("restored ") + 9))
        << r.out;
    // (A far server killed while it appended to the journal adds "; ignored a torn tail of N bytes".)
    EXPECT_NE(r.out.find("size 48.0 MiB (was 64.0 MiB); removed its undo journal and checkpoint record"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(first_difference(prev_, target), std::nullopt) << "rollback gives exactly the previous image";
    EXPECT_FALSE(exists(journal_of(target)));
    EXPECT_FALSE(exists(checkpoint_path(target, false)));
    CommandResult again = rollback(target);
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, "127.0.0.1: " + target + ": nothing to roll back (no interrupted sync recorded)\n");
    CommandResult quiet = rollback(target, {"-q"});
    EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
    EXPECT_EQ(quiet.out, "") << "-q: the exit code says it";
  }
  void fence(const std::string& extra) {
    sshd_->force_command(std::string(SPARSYNC_BINARY) + " --server --allow-root " + root_ + extra);
  }
  static void expect_one_error_line(const CommandResult& r, const std::string& needle) {
    auto lines = r.err_lines();
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find(needle), std::string::npos) << lines[0];
  }

  TempDir dir_;
  std::string root_, src_, prev_;
  std::string far_pid_file_ = dir_.file("far.pid");
};

TEST_F(SshRollback, AKilledClientsPushIsRolledBackOverSsh) {
  const std::string dst = dir_.file("dst.img");
  previous_image(dst);
  killed_push(dst, false);
  expect_rolled_back_over_ssh(dst);
}

TEST_F(SshRollback, APushWhoseFarServerWasKilledIsRolledBackOverSsh) {
  const std::string dst = dir_.file("dst.img");
  previous_image(dst);
  killed_push(dst, true);
  expect_rolled_back_over_ssh(dst);
}

TEST_F(SshRollback, AFencedServerRollsBackInsideItsRootOnly) {
  fence("");
  const std::string inside = root_ + "/dst.img";
  previous_image(inside);
  killed_push(inside, false);
  // Outside the root: refused before anything is opened, whatever is there.
  const std::string outside = dir_.file("outside.img");
  SparseImage(outside, 4 * kMiB).data(0, kMiB, 44);
  const std::vector<uint8_t> outside_bytes = read_all(outside);
  CommandResult r = rollback(outside);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  expect_one_error_line(r, "outside the directories this host allows");
  EXPECT_EQ(read_all(outside), outside_bytes);
  expect_rolled_back_over_ssh(inside);
}

TEST_F(SshRollback, AReadOnlyServerRefusesToRollBack) {
  fence(" --read-only");
  const std::string inside = root_ + "/dst.img";
  previous_image(inside);
  CommandResult r = rollback(inside);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  expect_one_error_line(r, "read-only");
  EXPECT_EQ(first_difference(prev_, inside), std::nullopt);
}

// Kept generations over SSH: two pushes with --keep 2 (OPEN's keep tail, the
// far target keeps them; SUMMARY's tail brings the count back to --json),
// the far --status lists them, and --to reaches the far side: 2 runs back,
// without the source, is exactly the image from before the first push.
TEST_F(SshRollback, KeptGenerationsAreKeptListedAndRolledBackOverSsh) {
  const std::string dst = dir_.file("dst.img");
  previous_image(dst);
  CommandResult first = run_command(argv({"-q", "--keep", "2", src_, SshdFixture::remote(dst)}));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  SparseImage(src_, kRollbackImage).data(8 * kMiB, kMiB, 45);
  CommandResult second =
      run_command(argv({"--json", "--keep", "2", src_, SshdFixture::remote(dst)}, recording_server()));
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("\"generations_kept\":2"), std::string::npos) << second.out;
  EXPECT_TRUE(exists(far_pid_file_)) << "the far server was not started";
  CommandResult status = run_command(argv({"--status", SshdFixture::remote(dst)}));
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("2 kept generations (sparsync --rollback " + dst + " --to K):"), std::string::npos)
      << status.out;
  EXPECT_NE(status.out.find("\n  K=2: its state as of "), std::string::npos) << status.out;
  ASSERT_EQ(::unlink(src_.c_str()), 0);
  CommandResult r = rollback(dst, {"--to", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("127.0.0.1: rolled back " + dst + " to its state as of ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("(2 runs back)"), std::string::npos) << r.out;
  EXPECT_EQ(first_difference(prev_, dst), std::nullopt) << "2 runs back is the image before the first push";
  CommandResult none = rollback(dst, {"--to", "1"});
  EXPECT_EQ(none.exit_code, 4) << none.err;
  expect_one_error_line(none, "127.0.0.1: cannot roll back " + dst + ": it keeps no generations");
}

// In a pull this host is the target: --keep is honoured here, and the
// generations roll back locally.
TEST_F(SshRollback, APullKeepsGenerationsOnThisHost) {
  const std::string dst = dir_.file("pulled.img");
  previous_image(dst);
  CommandResult first = run_command(argv({"-q", "--keep", "2", SshdFixture::remote(src_), dst}));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first_difference(src_, dst), std::nullopt);
  EXPECT_TRUE(exists(generation_of(dst, 1)));
  CommandResult r = run_sparsync({"--rollback", dst, "--to", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(prev_, dst), std::nullopt);
}

// A far host without sparsync gets this one uploaded for the call, as for a
// sync; with --no-upload it is a clear refusal.
TEST_F(SshRollback, AFarHostWithoutSparsyncGetsThisOneUploaded) {
  const std::string dst = dir_.file("dst.img");
  previous_image(dst);
  CommandResult r = rollback(dst, {}, "/nonexistent/sparsync");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "127.0.0.1: " + dst + ": nothing to roll back (no interrupted sync recorded)\n");
  EXPECT_NE(r.err.find("uploading this sparsync"), std::string::npos) << r.err;
  CommandResult refused = rollback(dst, {"--no-upload"}, "/nonexistent/sparsync");
  EXPECT_EQ(refused.exit_code, 5) << refused.err;
  expect_one_error_line(refused, "127.0.0.1 has no sparsync at '/nonexistent/sparsync'");
}

// A far sparsync of this protocol version without kFeatureRollback: HELLO
// offering 0x17f, then whatever the client sends is kept in a file.
TEST_F(SshRollback, AFarSideWithoutTheFeatureIsNeverSentRollback) {
  const std::string received = dir_.file("received");
  const std::string old = dir_.file("old-sparsync");
  std::ofstream(old) << "#!/bin/sh\nprintf '%s' "
                        "'01000000240000007370617273796e63010000007f010000000000000e007370617273796e6320302e312e30'"
                        " | xxd -r -p\nexec cat > '"
                     << received << "'\n";
  ::chmod(old.c_str(), 0755);
  CommandResult r = rollback(dir_.file("dst.img"), {"--no-upload"}, old);
  EXPECT_EQ(r.exit_code, 6) << r.err;
  expect_one_error_line(r,
                        "127.0.0.1's sparsync is too old to roll back over the connection; run sparsync "
                        "--rollback " +
                            dir_.file("dst.img") + " there");
  // The far side got the client's HELLO and nothing after it.
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(wait_until(
      [&] {
        bytes = read_all(received);
        return bytes.size() >= 8;
      },
      10));
  ASSERT_EQ(bytes[0], 0x01) << "the first frame is HELLO";
  const uint32_t length = bytes[4] | bytes[5] << 8 | bytes[6] << 16 | static_cast<uint32_t>(bytes[7]) << 24;
  EXPECT_EQ(bytes.size(), 8 + length) << "something followed HELLO";
}

}  // namespace
}  // namespace sparsync::testing
