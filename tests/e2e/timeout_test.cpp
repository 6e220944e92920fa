// --timeout end to end, local (pipe) mode (docs/usage.md "Hangs and timeouts", PROTOCOL.md
// §4.16): a server that stops (SIGSTOP: it neither talks nor reads) ends the
// run with exit 5 and a resumable target, and --retries retries it; a
// server left waiting by a silent client exits by itself; and runs with long
// quiet phases (a source waiting on its stdin during a dry run, a target
// with nothing to say while --bwlimit paces the data) do not time out,
// because each side keeps the other alive.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/checkpoint_store.h"
#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"
#include "support/command.h"
#include "support/files.h"
#include "support/process.h"
#include "support/sizes.h"

extern char** environ;

namespace sparsync::testing {
namespace {

std::string quoted_for_sh(const std::string& s) { return "'" + s + "'"; }

std::optional<CheckpointRecord> idle_record(const std::string& target) {
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  EXPECT_TRUE(load_checkpoint(checkpoint_path(target, false), &rec, &corrupt).is_ok());
  return rec;
}

uint64_t idle_allocated(const std::string& path) { return exists(path) ? allocated_bytes(path) : 0; }

// A sh command line run as a Process, so a hang fails the test (wait's bound)
// instead of the suite; $SPARSYNC names the binary.
std::unique_ptr<Process> start_sh(const std::string& line) {
  return Process::start({"/bin/sh", "-c", "SPARSYNC=" + quoted_for_sh(SPARSYNC_BINARY) + "; " + line});
}

class IdleTimeout : public ::testing::Test {
 protected:
  // Paced (4 s for 256 MiB) unless `args` pace it: unthrottled, a local
  // copy can end between the look at the target and the stop (see
  // resume_test.cpp).
  std::unique_ptr<Process> push(const std::vector<std::string>& args, const std::string& src) {
    std::vector<std::string> argv{SPARSYNC_BINARY, "--checkpoint-interval", "8M", "--checkpoint-seconds", "1000"};
    if (std::find(args.begin(), args.end(), "--bwlimit") == args.end()) {
      argv.push_back("--bwlimit");
      argv.push_back("64M");
    }
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(src);
    argv.push_back(dst_);
    return Process::start(argv);
  }
  // The server child of a local run.
  pid_t server_of(Process& p) {
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
  // Stops the server (it neither talks nor reads any more) once the target
  // holds `at` bytes.
  void stop_server_at(Process& p, uint64_t at) {
    pid_t child = server_of(p);
    ASSERT_GT(child, 0);
    ASSERT_TRUE(wait_until([&] { return idle_allocated(dst_) >= at || !p.running(); }, 30));
    ASSERT_TRUE(p.running()) << "the run ended before it could be stopped";
    ASSERT_EQ(::kill(child, SIGSTOP), 0);
  }

  TempDir dir_;
  std::string dst_ = dir_.file("dst.img");
};

TEST_F(IdleTimeout, StoppedServerExits5WithAResumableTarget) {
  std::string src = dir_.file("src.img");
  SparseImage(src, 256 * kMiB).data(0, 256 * kMiB, 21);
  auto p = push({"--timeout", "2", "--retries", "0"}, src);
  stop_server_at(*p, 96 * kMiB);
  auto r = p->wait(60);
  ASSERT_TRUE(r.has_value()) << "the client waited for ever for a stopped server";
  EXPECT_EQ(r->exit_code, 5) << r->err;
  auto lines = r->err_lines();
  ASSERT_EQ(lines.size(), 1u) << r->err;
  EXPECT_NE(lines[0].find("the local server process"), std::string::npos) << r->err;
  EXPECT_NE(lines[0].find(" for 2 s (--timeout); the target is checkpointed at "), std::string::npos) << r->err;
  EXPECT_NE(lines[0].find("run the same command to resume"), std::string::npos) << r->err;
  auto rec = idle_record(dst_);
  ASSERT_TRUE(rec.has_value()) << "no checkpoint record: the target is not resumable";
  EXPECT_GT(rec->durable_offset, 0u);

  // The client ended the stopped server with SIGKILL: what it wrote after
  // its record cannot be told from another writer's, so the rerun compares
  // from the start (docs/usage.md "Resume and verification") and sends only what
  // differs.
  CommandResult again = run_sparsync({"--json", src, dst_});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(first_difference(src, dst_), std::nullopt);
  auto j = nlohmann::json::parse(again.out);
  EXPECT_EQ(j["checkpoint_ignored"], "target-changed") << again.out;
  EXPECT_LE(j["data_bytes"].get<uint64_t>() + rec->durable_offset, 256 * kMiB);
}

TEST_F(IdleTimeout, StoppedServerIsRetriedAndTheRetryFinishes) {
  std::string src = dir_.file("src.img");
  SparseImage(src, 256 * kMiB).data(0, 256 * kMiB, 22);
  auto p = push({"--timeout", "2", "--retries", "1", "--retry-wait", "0.2", "--json"}, src);
  stop_server_at(*p, 96 * kMiB);
  auto r = p->wait(90);
  ASSERT_TRUE(r.has_value()) << "the client waited for ever for a stopped server";
  ASSERT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(first_difference(src, dst_), std::nullopt);
  EXPECT_FALSE(exists(checkpoint_path(dst_, false)));
  // The timeout, retried, and the retry's far side saying why it compares
  // from the start (the timed-out server was killed after its last record).
  auto lines = r->err_lines();
  ASSERT_EQ(lines.size(), 2u) << r->err;
  EXPECT_NE(lines[0].find(" for 2 s (--timeout)"), std::string::npos) << r->err;
  EXPECT_NE(lines[0].find("retry 1 of 1"), std::string::npos) << r->err;
  EXPECT_NE(lines[1].find("the target changed since the checkpoint"), std::string::npos) << r->err;
  auto j = nlohmann::json::parse(r->out);
  EXPECT_EQ(j["checkpoint_ignored"], "target-changed") << r->out;
  EXPECT_LT(j["data_bytes"].get<uint64_t>(), 256 * kMiB) << "what the killed server wrote is not sent again";
}

// Dry run, source on stdin: after the last byte the source waits for the
// end of its input (sleep 3) and sends nothing, while the server, told the
// client's 1 s timeout, waits for DONE. Keepalives carry it through.
TEST_F(IdleTimeout, QuietSourceIsKeptAlive) {
  std::string src = dir_.file("src.img");
  SparseImage(src, 8 * kMiB).data(0, 8 * kMiB, 23);
  ASSERT_EQ(run_sparsync({src, dst_}).exit_code, 0);
  // Quiet for 5 s against a 2 s timeout (keepalives every 0.5 s): a
  // 1 s timeout left too little room for a stall under load.
  auto p = start_sh("(cat " + quoted_for_sh(src) + "; sleep 5) | exec \"$SPARSYNC\" --dry-run --timeout 2 - " +
                    quoted_for_sh(dst_) + " --size " + std::to_string(8 * kMiB));
  auto r = p->wait(60);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out.rfind("dry run ", 0), 0u) << r->out;
  EXPECT_EQ(r->err, "");
}

// A first clone under --bwlimit: the target has reported everything at once
// and has nothing to say for seconds, while the client waits for it with a
// 1 s timeout.
TEST_F(IdleTimeout, QuietTargetIsKeptAlive) {
  std::string src = dir_.file("src.img");
  SparseImage(src, 4 * kMiB).data(0, 4 * kMiB, 24);
  // No retries: a timed-out attempt must not be hidden by a successful retry.
  auto p = push({"--timeout", "2", "--bwlimit", "1M", "--retries", "0"}, src);
  auto r = p->wait(60);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->err, "");
  EXPECT_EQ(first_difference(src, dst_), std::nullopt);
}

// --- the server, fed by a client that goes silent -------------------------

std::vector<uint8_t> idle_frame(proto::MsgType type, const std::vector<uint8_t>& payload) {
  uint8_t h[proto::kFrameHeaderSize];
  proto::encode_header(type, static_cast<uint32_t>(payload.size()), h);
  std::vector<uint8_t> out(h, h + sizeof(h));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// The frames a client sends up to OPEN (a push of `size` bytes to `target`),
// announcing `timeout`.
std::vector<uint8_t> idle_client_opening(const std::string& target, uint64_t size, uint32_t timeout) {
  std::vector<uint8_t> in =
      idle_frame(proto::MsgType::kHello, proto::encode(proto::Hello{1, proto::kFeaturesOffered, "test"}));
  auto k = idle_frame(proto::MsgType::kKeepalive, proto::encode(proto::Keepalive{timeout}));
  in.insert(in.end(), k.begin(), k.end());
  proto::Open o;
  o.block_size = 4096;
  o.source_size = size;
  o.path = target;
  o.source_id = "test:idle";
  auto open = idle_frame(proto::MsgType::kOpen, proto::encode(o));
  in.insert(in.end(), open.begin(), open.end());
  return in;
}

struct SilentClientRun {
  std::optional<int> exit_code;  // nullopt: still running after the bound
  std::string err;
};

// Runs `sparsync --server ARGS` with `input` on a pipe this side keeps open
// (and silent) afterwards, for up to `bound` seconds.
SilentClientRun run_server_left_waiting(const TempDir& dir, const std::vector<std::string>& args,
                                        const std::vector<uint8_t>& input, double bound) {
  int in[2];
  EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
  std::string err_path = dir.file("server.err");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> argv{SPARSYNC_BINARY, "--server"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(::posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  EXPECT_EQ(::write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  SilentClientRun run;
  int status = 0;
  if (wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, bound)) {
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  } else {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ::close(in[1]);
  std::vector<uint8_t> err = read_all(err_path);
  run.err.assign(err.begin(), err.end());
  return run;
}

TEST_F(IdleTimeout, ServerWithoutAHelloExits) {
  SilentClientRun r = run_server_left_waiting(dir_, {"--timeout", "1"}, {}, 30);
  ASSERT_TRUE(r.exit_code.has_value()) << "the server waited for ever for a HELLO";
  EXPECT_EQ(*r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("no data from the client for 1 s (--timeout)"), std::string::npos) << r.err;
}

// The client opened a push, then went silent: the server gives up after the
// client's own announced timeout, and the target keeps its checkpoint record.
TEST_F(IdleTimeout, ServerLearnsTheClientsTimeoutAndLeavesTheTargetResumable) {
  SilentClientRun r = run_server_left_waiting(dir_, {}, idle_client_opening(dst_, 64 * kKiB, 1), 30);
  ASSERT_TRUE(r.exit_code.has_value()) << "the server waited for ever for a silent client";
  EXPECT_EQ(*r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("no data from the client for 1 s (--timeout)"), std::string::npos) << r.err;
  EXPECT_TRUE(idle_record(dst_).has_value()) << "no checkpoint record: the target is not marked incomplete";
}

// A forced command's --timeout is the server's policy: a client announcing
// none (0) does not turn it off.
TEST_F(IdleTimeout, ServersOwnTimeoutWinsOverTheClients) {
  SilentClientRun r = run_server_left_waiting(dir_, {"--timeout", "1"}, idle_client_opening(dst_, 64 * kKiB, 0), 30);
  ASSERT_TRUE(r.exit_code.has_value()) << "the server waited for ever for a silent client";
  EXPECT_EQ(*r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("no data from the client for 1 s (--timeout)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sparsync::testing
