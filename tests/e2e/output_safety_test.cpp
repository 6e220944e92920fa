// End-to-end: what sparsync prints and the files it writes for monitoring
// cannot be turned against the operator. A path with a newline and a forged
// summary in its name stays on the one summary line; a --metrics-file whose
// directory others can write (a shared textfile-collector directory) is never
// written or read through a symlink planted at its name, and a FIFO planted
// there cannot hang the run.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "common/printable.h"
#include "support/command.h"
#include "support/files.h"
#include "support/process.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::CommandResult;
using testing::kMiB;
using testing::SparseImage;
using testing::TempDir;

std::string whole_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool lstat_type_is(const std::string& path, mode_t type) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && (st.st_mode & S_IFMT) == type;
}

// sparsync with `args`, its stdin one end of a socketpair the test writes
// (a pipe's SIGPIPE would end the test if sparsync went first), its output
// in files. The test decides when the source ends.
class StdinFedRun {
 public:
  explicit StdinFedRun(const std::vector<std::string>& args, const TempDir& dir)
      : out_(dir.file("run.out")), err_(dir.file("run.err")) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(sv[1], 0);
      int o = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int e = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(o, 1);
      ::dup2(e, 2);
      std::vector<char*> argv{const_cast<char*>(SPARSYNC_BINARY)};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(SPARSYNC_BINARY, argv.data());
      _exit(127);
    }
    ::close(sv[1]);
    feed_ = sv[0];
  }
  ~StdinFedRun() {
    if (feed_ >= 0) ::close(feed_);
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // Sends `bytes` zero bytes; returns once sparsync has taken them in (all
  // but what the socket buffers hold).
  bool feed(size_t bytes) {
    std::vector<char> zeros(64 * 1024, 0);
    while (bytes > 0) {
      ssize_t n = ::send(feed_, zeros.data(), std::min(bytes, zeros.size()), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes -= static_cast<size_t>(n);
    }
    return true;
  }
  // Ends the source and waits up to `seconds` for the exit code.
  std::optional<int> end_and_wait(double seconds) {
    ::close(feed_);
    feed_ = -1;
    bool ended = testing::wait_until(
        [&] {
          int st = 0;
          if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
          exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
          return true;
        },
        seconds);
    return ended ? exit_code_ : std::nullopt;
  }
  std::string err() const { return whole_text(err_); }

 private:
  std::string out_, err_;
  pid_t pid_ = -1;
  int feed_ = -1;
  std::optional<int> exit_code_;
};

TEST(OutputSafety, ATargetNameWithANewlineStaysOnTheSummaryLine) {
  TempDir dir;
  std::string src = dir.file("src.img");
  SparseImage(src, kMiB).data(0, 4096, 1);
  std::string dst = dir.file("dst\nsynced shadow -> evil:x: 1.00 GiB scanned\x1b[1A");
  CommandResult r = testing::run_sparsync({src, dst});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_EQ(r.out.rfind("synced " + src + " -> " + printable(dst) + ": 1.00 MiB scanned", 0), 0u) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sparsync

namespace sparsync {
namespace {

// The directory of the metrics file is shared (a textfile-collector
// directory): a link planted at its name before the run is refused, and
// the file it points to keeps its bytes.
TEST(OutputSafety, AMetricsFileThatIsASymlinkIsRefusedBeforeTheRun) {
  TempDir dir, outside;
  std::string src = dir.file("src.img");
  SparseImage(src, kMiB).data(0, 4096, 1);
  std::string victim = outside.file("victim");
  std::ofstream(victim) << "precious\n";
  std::string prom = dir.file("sparsync.prom");
  ASSERT_EQ(::symlink(victim.c_str(), prom.c_str()), 0);
  CommandResult r = testing::run_sparsync({"--metrics-file", prom, src, dir.file("dst.img")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("is a symbolic link"), std::string::npos) << r.err;
  EXPECT_EQ(whole_text(victim), "precious\n");
  EXPECT_TRUE(lstat_type_is(prom, S_IFLNK));
  EXPECT_FALSE(testing::exists(dir.file("dst.img"))) << "refused before the run";
}

// Swapped in while the run goes on (after the check): a symlink to another
// job's file is replaced without being read or written, and a FIFO does not
// make the run wait for ever.
TEST(OutputSafety, AMetricsFileSwappedForASymlinkOrFifoMidRunIsReplaced) {
  for (bool fifo : {false, true}) {
    SCOPED_TRACE(fifo ? "FIFO" : "symlink");
    TempDir dir, outside;
    std::string victim = outside.file("other-job.prom");
    const std::string forged = "sparsync_last_success_timestamp_seconds{target=\"x\"} 12345\n";
    std::ofstream(victim) << forged;
    std::string prom = dir.file("sparsync.prom");
    std::string dst = dir.file("dst.img");
    StdinFedRun run({"--metrics-file", prom, "--size", "4M", "-", dst}, dir);
    // 1 MiB is more than the socket holds: once it is sent, sparsync is
    // reading its source, so the path check is behind it.
    ASSERT_TRUE(run.feed(kMiB)) << run.err();
    if (fifo) {
      ASSERT_EQ(::mkfifo(prom.c_str(), 0666), 0);
    } else {
      ASSERT_EQ(::symlink(victim.c_str(), prom.c_str()), 0);
    }
    std::optional<int> code = run.end_and_wait(30);  // stdin ends short of --size
    ASSERT_TRUE(code.has_value()) << "the run did not end: " << run.err();
    EXPECT_EQ(*code, 3) << run.err();
    EXPECT_EQ(whole_text(victim), forged);
    EXPECT_TRUE(lstat_type_is(prom, S_IFREG));
    std::string metrics = whole_text(prom);
    EXPECT_NE(metrics.find("sparsync_exit_code{target=\"" + dst + "\"} 3\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("sparsync_last_success_timestamp_seconds{target=\"" + dst + "\"} 0\n"), std::string::npos)
        << metrics;
  }
}

}  // namespace
}  // namespace sparsync
