// Hangs over a real sshd (issue 15 items 9 and 10): a far side that keeps the
// connection open but stops talking (no HELLO, silent after OPEN_OK, stopped
// mid-frame, a real server stopped with SIGSTOP) ends the run after --timeout
// with exit 5, counted by --retries; a pull stops on the first SIGINT or
// SIGTERM like a push (final checkpoint, exit 8, one line), promptly even when
// the far side is stalled; and keepalives over lanes keep a quiet push alive.
// The far sides that misbehave are shell scripts given as --remote-path,
// printing frames from PROTOCOL.md's byte examples through xxd.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/checkpoint_store.h"
#include "support/files.h"
#include "support/process.h"
#include "support/sizes.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

// HELLO (§3) offering every feature of this version (0x7f), or none of
// keepalive and stop (0x1f: an older far side).
const std::string kHelloAll =
    "01000000240000007370617273796e63010000007f000000000000000e007370617273796e6320302e312e30";
const std::string kHelloOld =
    "01000000240000007370617273796e63010000001f000000000000000e007370617273796e6320302e312e30";
const std::string kKeepalive3s = "600000000400000003000000";
// OPEN_OK (§4.2): a file of 18432 bytes at /srv/vm1.img (in a pull: the source).
const std::string kOpenOk =
    "0300000020000000"
    "01"
    "00"
    "0000"
    "00000000"
    "0048000000000000"
    "0c002f7372762f766d312e696d67"
    "0000";

class SshHang : public SshdTest {
 protected:
  // A far side that prints `hello`, then, once the client's OPEN has come
  // (a real server writes nothing more before it has read OPEN), `rest`,
  // and then reads (and drops) whatever comes, saying nothing more until
  // the client goes away. It waits for OPEN rather than for a moment: under
  // load a moment can outlast the client's --timeout.
  std::string far_side(const std::string& name, const std::string& hello, const std::string& rest = "") {
    std::string path = dir_.file(name);
    const std::string header = dir_.file(name + ".hdr");
    std::ofstream(path) << "#!/bin/sh\nprintf '%s' '" << hello << "' | xxd -r -p\n"
                        << "until_open() {\n"
                        << "  while head -c 8 > '" << header << "' && [ -s '" << header << "' ]; do\n"
                        << "    head -c $(od -An -tu4 -j4 -N4 '" << header << "') > /dev/null\n"
                        << "    [ $(od -An -tu4 -N4 '" << header << "') -eq 2 ] && return 0\n"
                        << "  done\n"
                        << "  return 1\n"
                        << "}\n"
                        << (hello.empty() ? "" : "until_open || exit 0\n") << "printf '%s' '" << rest
                        << "' | xxd -r -p\nexec cat >/dev/null\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }
  // The real server, recording its pid (for SIGSTOP) in `pid_file_`.
  std::string recording_far_side() {
    std::string path = dir_.file("recording-server");
    std::ofstream(path) << "#!/bin/sh\necho $$ > '" << pid_file_ << "'\nexec '" << SPARSYNC_BINARY << "' \"$@\"\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }
  std::vector<std::string> argv(const std::string& remote_path, const std::vector<std::string>& extra) {
    std::vector<std::string> a{"/usr/bin/env", "-u", "SSH_AUTH_SOCK", "HOME=" + sshd_->home(), SPARSYNC_BINARY};
    std::vector<std::string> ssh = sshd_->ssh_args();
    for (size_t i = 0; i + 1 < ssh.size(); ++i) {
      if (ssh[i] == "--remote-path") ssh[i + 1] = remote_path;
    }
    a.insert(a.end(), ssh.begin(), ssh.end());
    for (const char* x : {"--no-upload", "--checkpoint-interval", "8M", "--checkpoint-seconds", "1000"}) a.push_back(x);
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Runs to the end; nullopt (a failed test) if it is still running after `bound` s.
  std::optional<CommandResult> run(const std::string& remote_path, const std::vector<std::string>& extra,
                                   double bound = 60) {
    return Process::start(argv(remote_path, extra))->wait(bound);
  }
  pid_t far_pid() {
    pid_t pid = -1;
    wait_until(
        [&] {
          std::ifstream in(pid_file_);
          return static_cast<bool>(in >> pid) && pid > 0;
        },
        20);
    return pid;
  }
  std::optional<CheckpointRecord> record_at(const std::string& target) {
    std::optional<CheckpointRecord> rec;
    bool corrupt = false;
    EXPECT_TRUE(load_checkpoint(checkpoint_path(target, false), &rec, &corrupt).is_ok());
    return rec;
  }
  uint64_t held(const std::string& path) { return exists(path) ? allocated_bytes(path) : 0; }
  // The durable offset of `target`'s record, 0 while it has none.
  uint64_t recorded(const std::string& target) {
    auto rec = exists(checkpoint_path(target, false)) ? record_at(target) : std::nullopt;
    return rec ? rec->durable_offset : 0;
  }
  // A pull stopped by a signal: exit 8 with one line, put in *line.
  static void stop_line(const std::optional<CommandResult>& r, std::string* line) {
    EXPECT_EQ(r->exit_code, 8) << r->err;
    auto lines = r->err_lines();
    ASSERT_EQ(lines.size(), 1u) << r->err;
    *line = lines[0];
  }
  // The same pull again: complete, exact, and resumed from `offset`.
  void expect_pull_resumes_at(const std::string& src, const std::string& dst, uint64_t offset,
                              const std::string& first_err) {
    auto again = run(SPARSYNC_BINARY, {"--json", SshdFixture::remote(src), dst});
    ASSERT_TRUE(again.has_value());
    ASSERT_EQ(again->exit_code, 0) << again->err;
    EXPECT_EQ(first_difference(src, dst), std::nullopt);
    EXPECT_EQ(nlohmann::json::parse(again->out)["resumed_from"].get<uint64_t>(), offset)
        << again->out << "\n"
        << again->err << "\nfirst run: " << first_err;
  }

  TempDir dir_;
  std::string pid_file_ = dir_.file("far.pid");
};

TEST_F(SshHang, NoHelloEndsAfterTheTimeout) {
  std::string far = far_side("silent", "");
  // The source is opened before connecting: it must exist for the wait to start.
  SparseImage(dir_.file("a.img"), kMiB).data(0, 4096, 1);
  auto r = run(far, {"--timeout", "2", dir_.file("a.img"), SshdFixture::remote(dir_.file("b.img"))});
  ASSERT_TRUE(r.has_value()) << "the client waited for ever for a HELLO";
  EXPECT_EQ(r->exit_code, 5) << r->err;
  auto lines = r->err_lines();
  ASSERT_EQ(lines.size(), 1u) << r->err;
  EXPECT_NE(lines[0].find("no data from 127.0.0.1 for 2 s (--timeout) after starting"), std::string::npos) << r->err;
}

// Silent after OPEN_OK: the session had started, so --retries retries it.
TEST_F(SshHang, SilenceAfterOpenOkIsRetriedThenExits5) {
  std::string src = dir_.file("a.img");
  SparseImage(src, 18432).data(0, 18432, 3);
  std::string far = far_side("silent-after-open", kHelloAll, kKeepalive3s + kOpenOk);
  auto r = run(far, {"--timeout", "2", "--retries", "1", "--retry-wait", "0", "--lanes", "1", src,
                     SshdFixture::remote(dir_.file("b.img"))});
  ASSERT_TRUE(r.has_value()) << "the client waited for ever after OPEN_OK";
  EXPECT_EQ(r->exit_code, 5) << r->err;
  auto lines = r->err_lines();
  ASSERT_EQ(lines.size(), 2u) << r->err;
  EXPECT_NE(lines[0].find("no data from 127.0.0.1 for 2 s (--timeout)"), std::string::npos) << r->err;
  EXPECT_NE(lines[0].find("retry 1 of 1"), std::string::npos) << r->err;
  EXPECT_NE(lines[1].find("no data from 127.0.0.1 for 2 s (--timeout); run the same command to resume"),
            std::string::npos)
      << r->err;
}

// A frame header, half its payload, then nothing: the reader waits inside a
// frame, and that wait is bounded too.
TEST_F(SshHang, StoppedMidFrameEndsAfterTheTimeout) {
  std::string src = dir_.file("a.img");
  SparseImage(src, 18432).data(0, 18432, 3);
  const std::string half_resume =
      "1300000008000000"
      "00200000";
  std::string far = far_side("mid-frame", kHelloAll, kKeepalive3s + kOpenOk + half_resume);
  auto r = run(far, {"--timeout", "2", "--retries", "0", "--lanes", "1", src, SshdFixture::remote(dir_.file("b.img"))});
  ASSERT_TRUE(r.has_value()) << "the client waited for ever inside a frame";
  EXPECT_EQ(r->exit_code, 5) << r->err;
  auto lines = r->err_lines();
  ASSERT_EQ(lines.size(), 1u) << r->err;
  EXPECT_NE(lines[0].find("no data from 127.0.0.1 for 2 s (--timeout)"), std::string::npos) << r->err;
}

// A pull whose source says OPEN_OK and nothing more: the local target was
// opened and marked incomplete, so it stays resumable.
TEST_F(SshHang, PullFromASilentSourceExits5WithAResumableTarget) {
  std::string dst = dir_.file("pulled.img");
  std::string far = far_side("silent-source", kHelloAll, kKeepalive3s + kOpenOk);
  auto r = run(far, {"--timeout", "2", "--retries", "0", SshdFixture::remote("/srv/vm1.img"), dst});
  ASSERT_TRUE(r.has_value()) << "the pull waited for ever for its source";
  EXPECT_EQ(r->exit_code, 5) << r->err;
  auto lines = r->err_lines();
  ASSERT_EQ(lines.size(), 1u) << r->err;
  EXPECT_NE(lines[0].find("no data from 127.0.0.1 for 2 s (--timeout)"), std::string::npos) << r->err;
  EXPECT_TRUE(record_at(dst).has_value()) << "the target is not marked incomplete";
}

// A stalled pull stops on the first signal: at once with a far side that
// cannot be asked for a final checkpoint, after a short wait with one that
// can (STOP) but does not answer.
class SshStalledPull : public SshHang, public ::testing::WithParamInterface<bool> {};

TEST_P(SshStalledPull, StopsOnTheFirstSignal) {
  const bool can_stop = GetParam();
  std::string dst = dir_.file("pulled.img");
  std::string far =
      far_side("stalled-source", can_stop ? kHelloAll : kHelloOld, (can_stop ? kKeepalive3s : "") + kOpenOk);
  auto p = Process::start(argv(far, {"--timeout", "4", SshdFixture::remote("/srv/vm1.img"), dst}));
  ASSERT_TRUE(wait_until([&] { return exists(checkpoint_path(dst, false)) || !p->running(); }, 30));
  ASSERT_TRUE(p->running());
  ASSERT_TRUE(p->signal(SIGINT));
  auto r = p->wait(20);
  ASSERT_TRUE(r.has_value()) << "the first signal did not stop a stalled pull";
  EXPECT_EQ(r->exit_code, 8) << r->err;
  auto lines = r->err_lines();
  ASSERT_EQ(lines.size(), 1u) << r->err;
  EXPECT_NE(lines[0].find("interrupted; run the same command to resume"), std::string::npos) << r->err;
  EXPECT_TRUE(record_at(dst).has_value());
}

INSTANTIATE_TEST_SUITE_P(FarSide, SshStalledPull, ::testing::Bool(),
                         [](const auto& param_info) { return param_info.param ? "CanStop" : "Older"; });

// A healthy pull interrupted mid-run stops as a push does: the far source
// sends a final checkpoint on request, the target records it, exit 8 with one
// line, and the next run resumes there and finishes byte-identical.
class SshPullSignal : public SshHang, public ::testing::WithParamInterface<int> {};

TEST_P(SshPullSignal, CheckpointsExits8AndTheRerunResumes) {
  std::string src = dir_.file("src.img");
  SparseImage(src, 64 * kMiB).data(0, 64 * kMiB, 31);
  std::string dst = dir_.file("pulled.img");
  auto p = Process::start(argv(SPARSYNC_BINARY, {"--bwlimit", "8M", SshdFixture::remote(src), dst}));
  ASSERT_TRUE(wait_until([&] { return held(dst) >= 12 * kMiB || !p->running(); }, 60));
  ASSERT_TRUE(p->running()) << "the pull ended before it could be interrupted";
  uint64_t at_signal = held(dst);
  ASSERT_TRUE(p->signal(GetParam()));
  auto r = p->wait(40);
  ASSERT_TRUE(r.has_value()) << "the pull did not stop";
  std::string line;
  ASSERT_NO_FATAL_FAILURE(stop_line(r, &line));
  EXPECT_NE(line.find(" of 64.0 MiB; the target is checkpointed there: run the same command to resume"),
            std::string::npos)
      << r->err;
  auto rec = record_at(dst);
  ASSERT_TRUE(rec.has_value());
  // The final checkpoint covers what had arrived when the signal came (one
  // 1 MiB frame may be in the middle of its write).
  EXPECT_GE(rec->durable_offset + 2 * kMiB, at_signal);
  EXPECT_LT(rec->durable_offset, 64 * kMiB);
  expect_pull_resumes_at(src, dst, rec->durable_offset, r->err);
}

// The same onto an existing target, which is hashed while the pull runs:
// stopping the hasher is no failure, and the final checkpoint is recorded
// before it is told to stop.
TEST_F(SshHang, APullOntoAnExistingTargetStopsAtItsFinalCheckpoint) {
  std::string src = dir_.file("src.img");
  SparseImage(src, 64 * kMiB).data(0, 64 * kMiB, 33);
  std::string dst = dir_.file("pulled.img");
  SparseImage(dst, 64 * kMiB).data(0, 64 * kMiB, 34);
  auto p = Process::start(argv(SPARSYNC_BINARY, {"--bwlimit", "8M", SshdFixture::remote(src), dst}));
  ASSERT_TRUE(wait_until([&] { return recorded(dst) >= 8 * kMiB || !p->running(); }, 60));
  ASSERT_TRUE(p->running()) << "the pull ended before it could be interrupted";
  const auto signalled = std::chrono::steady_clock::now();
  ASSERT_TRUE(p->signal(SIGINT));
  auto r = p->wait(40);
  ASSERT_TRUE(r.has_value()) << "the pull did not stop";
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  RecordProperty("stop_seconds", std::to_string(took));
  std::string line;
  ASSERT_NO_FATAL_FAILURE(stop_line(r, &line));
  EXPECT_NE(line.find(" of 64.0 MiB; the target is checkpointed there: run the same command to resume"),
            std::string::npos)
      << r->err;
  auto rec = record_at(dst);
  ASSERT_TRUE(rec.has_value());
  EXPECT_GE(rec->durable_offset, 8 * kMiB);
  expect_pull_resumes_at(src, dst, rec->durable_offset, r->err);
}

INSTANTIATE_TEST_SUITE_P(Signals, SshPullSignal, ::testing::Values(SIGINT, SIGTERM),
                         [](const auto& param_info) { return param_info.param == SIGINT ? "Sigint" : "Sigterm"; });

// The real far source stops (SIGSTOP) mid-pull, then the user presses Ctrl-C:
// the pull asks for a final checkpoint, gets none, and stops within its short
// wait at the last checkpoint it recorded. It had written past that
// checkpoint: the record is written again for the target as the stop left it,
// so the rerun resumes there instead of taking those writes for someone
// else's and comparing from the start.
TEST_F(SshHang, PullWhoseSourceStoppedStopsAtItsLastCheckpoint) {
  std::string src = dir_.file("src.img");
  SparseImage(src, 64 * kMiB).data(0, 64 * kMiB, 32);
  std::string dst = dir_.file("pulled.img");
  auto p =
      Process::start(argv(recording_far_side(), {"--bwlimit", "8M", "--timeout", "60", SshdFixture::remote(src), dst}));
  pid_t far = far_pid();
  ASSERT_GT(far, 0);
  ASSERT_TRUE(wait_until(
      [&] {
        const uint64_t at = recorded(dst);
        return (at >= 8 * kMiB && allocated_bytes(dst) >= at + 2 * kMiB) || !p->running();
      },
      60));
  ASSERT_TRUE(p->running());
  ASSERT_EQ(::kill(far, SIGSTOP), 0);
  ASSERT_TRUE(p->signal(SIGINT));
  auto r = p->wait(30);
  ::kill(far, SIGKILL);
  ASSERT_TRUE(r.has_value()) << "the first signal did not stop a stalled pull";
  std::string line;
  ASSERT_NO_FATAL_FAILURE(stop_line(r, &line));
  // Its last checkpoint; or one the source sent just before it stopped,
  // still on its way when the client asked for the final one, taken as the
  // final one (both leave a record the rerun resumes from).
  const bool last = line.find("interrupted; the target is checkpointed at ") != std::string::npos &&
                    line.find(" (its last checkpoint): run the same command to resume") != std::string::npos;
  const bool in_flight =
      line.find("; the target is checkpointed there: run the same command to resume") != std::string::npos;
  EXPECT_TRUE(last || in_flight) << r->err;
  auto rec = record_at(dst);
  ASSERT_TRUE(rec.has_value());
  EXPECT_GE(rec->durable_offset, 8 * kMiB);
  expect_pull_resumes_at(src, dst, rec->durable_offset, r->err);
}

// A push over lanes whose source waits on its stdin (nothing changed, so
// nothing to send): the far side reads the lanes with the client's 2 s
// timeout, and the keepalives that reach it there keep it waiting.
TEST_F(SshHang, KeepalivesTravelOverLanes) {
  std::string src = dir_.file("src.img");
  SparseImage(src, 8 * kMiB).data(0, 8 * kMiB, 33);
  std::string dst = dir_.file("dst.img");
  ASSERT_EQ(run_sparsync({src, dst}).exit_code, 0);
  std::string cmd;
  for (const std::string& a : argv(SPARSYNC_BINARY, {"--timeout", "2", "--lanes", "2", "-v", "-",
                                                     SshdFixture::remote(dst), "--size", std::to_string(8 * kMiB)})) {
    cmd += " '" + a + "'";
  }
  auto p = Process::start({"/bin/sh", "-c", "(cat '" + src + "'; sleep 5) | exec" + cmd});
  auto r = p->wait(60);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_NE(r->err.find("over 2 lanes"), std::string::npos) << "no lanes: this test proves nothing\n" << r->err;
  EXPECT_EQ(first_difference(src, dst), std::nullopt);
}

}  // namespace
}  // namespace sparsync::testing
