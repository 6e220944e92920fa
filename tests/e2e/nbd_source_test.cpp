// NBD and qcow2 sources end to end (source/nbd_source.h), with the real
// qemu-img and qemu-nbd and libnbd (skipped, with the reason, where any is
// missing): a qcow2 image read as its guest sees it (holes stay holes, a
// backing file shows through), auto-detection and the raw default, an
// export given as an NBD URI served by qemu-nbd on a Unix socket (and an
// incremental from it), the refusals, and servers that stop answering (the
// run gives up after --timeout instead of waiting for ever).
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "support/command.h"
#include "support/files.h"
#include "support/process.h"
#include "support/sizes.h"
#include "support/unix_socket.h"

namespace sparsync::testing {
namespace {

constexpr uint64_t kGuestSize = 64 * kMiB;

bool have(const std::string& program) {
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"}) {
    if (::access((std::string(dir) + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

class NbdSource : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have("qemu-img") || !have("qemu-nbd")) GTEST_SKIP() << "qemu-img or qemu-nbd missing (Debian: qemu-utils)";
    void* lib = ::dlopen("libnbd.so.0", RTLD_NOW);
    if (lib == nullptr) GTEST_SKIP() << "libnbd.so.0 missing (Debian: libnbd0)";
    ::dlclose(lib);
    raw_ = dir_.file("guest.raw");
    // What the guest sees: data, a long hole, more data near the end.
    SparseImage(raw_, kGuestSize).data(kMiB, 3 * kMiB, 1).data(40 * kMiB, kMiB + 4096, 2);
    qcow2_ = dir_.file("guest.qcow2");
    ASSERT_EQ(run_command({"/usr/bin/qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw_, qcow2_}).exit_code, 0);
  }
  void TearDown() override {
    if (server_) server_->signal(SIGTERM);
  }
  // qemu-nbd serving `image` read-only on a Unix socket; its URI.
  std::string serve(const std::string& image, const std::string& format) {
    const std::string socket = dir_.file("nbd.sock");
    server_ = Process::start(
        {"/usr/bin/qemu-nbd", "--read-only", "--persistent", "--socket=" + socket, "--format=" + format, image});
    EXPECT_TRUE(wait_until([&] { return unix_socket_listening(socket); }, 10)) << server_->stderr_so_far();
    return "nbd+unix:///?socket=" + socket;
  }

  // `p`, started against the stopped server_ (stopped at `since`): ends by
  // itself, giving up with `said`; once the server goes on, the same run of
  // `source_args` completes and `dst` holds `guest`.
  void expect_gave_up_on_server(Process& p, std::chrono::steady_clock::time_point since, const std::string& said,
                                const std::vector<std::string>& source_args, const std::string& guest,
                                const std::string& dst);

  TempDir dir_;
  std::string raw_, qcow2_;
  std::unique_ptr<Process> server_;
};

TEST_F(NbdSource, AQcow2ImageIsReadAsItsGuestSeesIt) {
  const std::string dst = dir_.file("dst.img");
  CommandResult r = run_sparsync({"--source-format", "qcow2", qcow2_, dst});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(file_size(dst), kGuestSize);
  EXPECT_EQ(first_difference(raw_, dst), std::nullopt) << "the guest's bytes, not the qcow2 file's";
  // The guest's holes were never read or written: the copy is as sparse.
  EXPECT_LE(allocated_bytes(dst), 5 * kMiB);
  auto sum = parse_summary(r.out);
  ASSERT_TRUE(sum.has_value()) << r.err;
  EXPECT_EQ(sum->data, "4.00 MiB");
}

TEST_F(NbdSource, AutoDetectsQcow2AndRawCopiesTheFileAsItIs) {
  const std::string guest = dir_.file("guest.img");
  CommandResult a = run_sparsync({"-q", "--source-format", "auto", qcow2_, guest});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(first_difference(raw_, guest), std::nullopt);
  const std::string bytes = dir_.file("bytes.qcow2");
  CommandResult b = run_sparsync({"-q", qcow2_, bytes});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(first_difference(qcow2_, bytes), std::nullopt) << "the default copies the qcow2 file's own bytes";
  // auto on a raw image copies its bytes too.
  const std::string plain = dir_.file("plain.img");
  ASSERT_EQ(run_sparsync({"-q", "--source-format", "auto", raw_, plain}).exit_code, 0);
  EXPECT_EQ(first_difference(raw_, plain), std::nullopt);
}

// Ranges of an overlay that hold nothing of their own show its backing file:
// they read as the backing data, so they are read, never taken as holes.
TEST_F(NbdSource, AnOverlaysBackingFileShowsThrough) {
  const std::string overlay = dir_.file("overlay.qcow2");
  ASSERT_EQ(
      run_command({"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "-b", raw_, "-F", "raw", overlay}).exit_code, 0);
  const std::string dst = dir_.file("dst.img");
  CommandResult r = run_sparsync({"-q", "--source-format", "qcow2", overlay, dst});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(raw_, dst), std::nullopt);
}

TEST_F(NbdSource, AnExportGivenAsAUriIsSyncedAndThenOnlyItsChanges) {
  const std::string uri = serve(raw_, "raw");
  const std::string dst = dir_.file("dst.img");
  CommandResult first = run_sparsync({uri, dst});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first_difference(raw_, dst), std::nullopt);
  // The served file changes under the (read-only) export: two blocks.
  std::vector<uint8_t> block = pattern_bytes(9, 0, 4096);
  {
    int fd = ::open(raw_.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 2 * kMiB), 4096);
    ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 50 * kMiB), 4096);
    ::close(fd);
  }
  CommandResult second = run_sparsync({uri, dst});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(first_difference(raw_, dst), std::nullopt);
  auto sum = parse_summary(second.out);
  ASSERT_TRUE(sum.has_value()) << second.err;
  EXPECT_EQ(sum->changed, 2u);
  EXPECT_EQ(sum->data, "8.00 KiB");
}

TEST_F(NbdSource, RefusalsAreOneClearLine) {
  const std::string dst = dir_.file("dst.img");
  CommandResult none = run_sparsync({"nbd+unix:///?socket=" + dir_.file("no.sock"), dst});
  EXPECT_EQ(none.exit_code, 3);
  EXPECT_TRUE(none.mentions("cannot connect to the NBD export")) << none.err;
  EXPECT_FALSE(exists(dst));
  CommandResult target = run_sparsync({raw_, "nbd://backup/vm1"});
  EXPECT_EQ(target.exit_code, 2);
  EXPECT_TRUE(target.mentions("an NBD export cannot be a target yet")) << target.err;
  CommandResult not_qcow2 = run_sparsync({"--source-format", "qcow2", raw_, dst});
  EXPECT_EQ(not_qcow2.exit_code, 3);
  EXPECT_TRUE(not_qcow2.mentions("cannot read " + raw_ + " as a qcow2 image")) << not_qcow2.err;
  CommandResult far = run_sparsync({"--source-format", "qcow2", "backup:/srv/vm1.qcow2", dst});
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_TRUE(far.mentions("--source-format reads a source on this host")) << far.err;
}

// Whoever wrote the image chose its backing file's name, and qemu-nbd
// quotes it when it cannot open it: that text reaches the user's terminal
// escaped, in the one error line.
TEST_F(NbdSource, WhatQemuNbdSaysIsEscaped) {
  const std::string overlay = dir_.file("hostile.qcow2");
  const std::string backing = "/nonexistent/\x1b]0;pwned\x07\x1b[2Jbacking.raw";
  ASSERT_EQ(run_command(
                {"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "raw", overlay, "16M"})
                .exit_code,
            0);
  CommandResult r = run_sparsync({"--source-format", "qcow2", overlay, dir_.file("dst.img")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << "a raw escape reached the terminal";
  EXPECT_EQ(r.err.find('\x07'), std::string::npos);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_TRUE(r.mentions("qemu-nbd says:")) << r.err;
  EXPECT_TRUE(r.mentions("backing.raw")) << r.err;
}

// A server that stops answering fails the run after --timeout, with one line
// that says what to do, and the next run (the server back) completes.
constexpr double kStopTimeout = 2;
// How long past --timeout a stopped run may take to exit: polling slices,
// the reader's queue draining at --bwlimit, process start and exit.
constexpr double kStopSlack = 12;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// A run that gave up on its server: it ended by itself within the bound, no
// sooner than --timeout after `stopped`, with exit 3 and one line that holds
// `said` and what to do next.
void expect_gave_up(const std::optional<CommandResult>& r, std::chrono::steady_clock::time_point stopped,
                    const std::string& said) {
  ASSERT_TRUE(r.has_value()) << "the run waited for a stopped NBD server past its timeout";
  EXPECT_GE(seconds_since(stopped), kStopTimeout - 0.1);
  EXPECT_EQ(r->exit_code, 3) << r->err;
  ASSERT_EQ(r->err_lines().size(), 1u) << r->err;
  EXPECT_TRUE(r->mentions(said)) << r->err;
  EXPECT_TRUE(r->mentions("run the same command again")) << r->err;
}

// `args` run again once the server is back: complete and exact.
void expect_rerun_completes(std::vector<std::string> args, const std::string& guest, const std::string& dst) {
  args.insert(args.begin(), "-q");
  args.push_back(dst);
  CommandResult again = run_sparsync(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(first_difference(guest, dst), std::nullopt);
}

// A run of `source_args` into `dst`, paced so that its server can be stopped
// while it reads; returned once it has written 2 MiB (or ended).
std::unique_ptr<Process> start_paced_run(const std::vector<std::string>& source_args, const std::string& dst) {
  std::vector<std::string> argv{SPARSYNC_BINARY, "--timeout", "2", "--bwlimit", "4M"};
  argv.insert(argv.end(), source_args.begin(), source_args.end());
  argv.push_back(dst);
  auto p = Process::start(argv);
  EXPECT_TRUE(wait_until([&] { return (exists(dst) && allocated_bytes(dst) >= 2 * kMiB) || !p->running(); }, 30));
  return p;
}

void NbdSource::expect_gave_up_on_server(Process& p, std::chrono::steady_clock::time_point since,
                                         const std::string& said, const std::vector<std::string>& source_args,
                                         const std::string& guest, const std::string& dst) {
  auto r = p.wait(kStopTimeout + kStopSlack);
  server_->signal(SIGCONT);
  ASSERT_NO_FATAL_FAILURE(expect_gave_up(r, since, said));
  expect_rerun_completes(source_args, guest, dst);
}

TEST_F(NbdSource, AServerStoppedBeforeTheHandshakeFailsTheRunAfterTimeout) {
  const std::string uri = serve(raw_, "raw");
  ASSERT_TRUE(server_->signal(SIGSTOP));
  const std::string dst = dir_.file("dst.img");
  const auto start = std::chrono::steady_clock::now();
  auto p = Process::start({SPARSYNC_BINARY, "--timeout", "2", uri, dst});
  expect_gave_up_on_server(*p, start, "the NBD server of " + uri + " answered nothing for 2 s while connecting", {uri},
                           raw_, dst);
}

TEST_F(NbdSource, AServerThatStopsMidRunFailsItAfterTimeout) {
  const std::string dense = dir_.file("dense.raw");
  SparseImage(dense, 32 * kMiB).data(0, 32 * kMiB, 5);
  const std::string uri = serve(dense, "raw");
  const std::string dst = dir_.file("dst.img");
  auto p = start_paced_run({uri}, dst);
  ASSERT_TRUE(p->running());
  ASSERT_TRUE(server_->signal(SIGSTOP));
  const auto stopped = std::chrono::steady_clock::now();
  expect_gave_up_on_server(*p, stopped, "the NBD server of " + uri + " answered nothing for 2 s while reading at",
                           {uri}, dense, dst);
}

// The qemu-nbd sparsync starts for a qcow2 image: stopped mid-run, it is
// given up on after --timeout and killed (closing libnbd's handle waits for
// it), so nothing of the run is left behind.
TEST_F(NbdSource, ItsOwnQemuNbdStoppedMidRunIsKilledAfterTimeout) {
  const std::string dense = dir_.file("dense.raw");
  SparseImage(dense, 32 * kMiB).data(0, 32 * kMiB, 6);
  const std::string image = dir_.file("dense.qcow2");
  ASSERT_EQ(run_command({"/usr/bin/qemu-img", "convert", "-f", "raw", "-O", "qcow2", dense, image}).exit_code, 0);
  const std::string dst = dir_.file("dst.img");
  auto p = start_paced_run({"--source-format", "qcow2", image}, dst);
  ASSERT_TRUE(p->running());
  // Its children: the local far side and qemu-nbd.
  pid_t qemu_nbd = -1;
  for (pid_t child : p->children()) {
    if (read_text("/proc/" + std::to_string(child) + "/comm") == "qemu-nbd\n") qemu_nbd = child;
  }
  ASSERT_GT(qemu_nbd, 0) << "no qemu-nbd under the run";
  ASSERT_EQ(::kill(qemu_nbd, SIGSTOP), 0);
  const auto stopped = std::chrono::steady_clock::now();
  auto r = p->wait(kStopTimeout + kStopSlack);
  if (!r.has_value()) ::kill(qemu_nbd, SIGKILL);
  ASSERT_NO_FATAL_FAILURE(expect_gave_up(r, stopped, "qemu-nbd, reading " + image + ", answered nothing for 2 s"));
  EXPECT_FALSE(pid_alive(qemu_nbd)) << "the stopped qemu-nbd outlived the run";
  expect_rerun_completes({"--source-format", "qcow2", image}, dense, dst);
}

}  // namespace
}  // namespace sparsync::testing
