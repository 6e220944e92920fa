// Errors a person can act on (issue 19), locally: --metrics-file records a
// run refused before it started, -q keeps a local server's notices off the
// terminal, and a target that cannot be written says what to do next.
// The same over SSH is tests/e2e/ssh_actionable_test.cpp.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "common/checkpoint_store.h"
#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"
#include "support/command.h"
#include "support/files.h"
#include "support/sizes.h"

namespace sparsync::testing {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Actionable : public ::testing::Test {
 protected:
  void SetUp() override { SparseImage(src(), 4 * kMiB).data(0, kMiB, 1).data(3 * kMiB, 256 * 1024, 2); }
  std::string src() const { return dir_.file("src.img"); }
  std::string dst() const { return dir_.file("dst.img"); }
  TempDir dir_;
};

// Issue 19 item 7: a cron job broken by a bad edit (an unknown option, a bad
// value, an option without its server) fails in monitoring too, with the
// last success kept.
TEST_F(Actionable, UsageErrorsAreWrittenToTheMetricsFile) {
  const std::string prom = dir_.file("sparsync.prom");
  CommandResult ok = run_sparsync({"--metrics-file", prom, src(), dst()});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  std::smatch m;
  std::string text = slurp(prom);
  ASSERT_TRUE(std::regex_search(text, m, std::regex("\nsparsync_last_success_timestamp_seconds\\{[^}]*\\} (\\d+)\n")));
  const std::string success = m[1];
  const std::string label = "{target=\"" + dst() + "\"} ";
  const std::vector<std::vector<std::string>> broken = {
      {"--no-such-option", "--metrics-file", prom, src(), dst()},
      {"--metrics-file=" + prom, "--port", "0", src(), dst()},
      {"--metrics-file", prom, "--block-size", "3K", src(), dst()},
      {"--metrics-file", prom, "--read-only", src(), dst()},
  };
  for (const std::vector<std::string>& args : broken) {
    SCOPED_TRACE(args[0] + " " + args[1]);
    ASSERT_EQ(::unlink(prom.c_str()), 0);
    std::ofstream(prom) << text;  // the successful run's file
    CommandResult r = run_sparsync(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    std::string now = slurp(prom);
    EXPECT_NE(now.find("\nsparsync_exit_code" + label + "2\n"), std::string::npos) << now;
    EXPECT_NE(now.find("\nsparsync_last_success_timestamp_seconds" + label + success + "\n"), std::string::npos) << now;
  }
  // A metrics path that is itself wrong is left alone (and refused).
  CommandResult bad = run_sparsync({"--metrics-file", dir_.file("no/such.prom"), "--block-size", "3K", src(), dst()});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_FALSE(exists(dir_.file("no")));
}

// Issue 19 item 7: -q prints errors only, also when the notice comes from the
// (local) server process.
TEST_F(Actionable, QuietSilencesTheServersNotices) {
  ASSERT_EQ(run_sparsync({src(), dst()}).exit_code, 0);
  const std::string record = checkpoint_path(dst(), false);
  auto plant_unreadable_checkpoint = [&] { std::ofstream(record) << "not a checkpoint"; };
  plant_unreadable_checkpoint();
  CommandResult loud = run_sparsync({src(), dst()});
  ASSERT_EQ(loud.exit_code, 0) << loud.err;
  EXPECT_NE(loud.err.find("ignoring unreadable checkpoint"), std::string::npos) << loud.err;
  plant_unreadable_checkpoint();
  CommandResult quiet = run_sparsync({"-q", src(), dst()});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
}

// Issue 19 item 4: a client that hangs up after HELLO (its source could not
// be opened, it was interrupted) knows why; a server line relayed to its
// terminal would point the user at the network.
TEST_F(Actionable, ServerDoesNotReportAClientThatHungUp) {
  const std::vector<uint8_t> hello = proto::encode(proto::Hello{proto::kProtocolVersion, proto::kFeaturesOffered, "t"});
  uint8_t header[proto::kFrameHeaderSize];
  proto::encode_header(proto::MsgType::kHello, static_cast<uint32_t>(hello.size()), header);
  std::vector<uint8_t> input(header, header + sizeof header);
  input.insert(input.end(), hello.begin(), hello.end());
  const std::string frames = dir_.file("hello.bin");
  write_all(frames, input);
  CommandResult r =
      run_command({"/bin/sh", "-c", "exec \"$0\" --server < \"$1\" > /dev/null", SPARSYNC_BINARY, frames});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(r.err, "");
}

std::string only_line(const CommandResult& r) {
  std::vector<std::string> lines = r.err_lines();
  EXPECT_EQ(lines.size(), 1u) << r.err;
  return lines.empty() ? "" : lines[0];
}

// Issue 19 item 8: a target that cannot be written says what to do next.
TEST_F(Actionable, TargetIsADirectorySaysToNameAFileInIt) {
  CommandResult r = run_sparsync({"--retries=0", src(), dir_.path()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(only_line(r).find(dir_.path() + " is a directory; give the name of an image file inside it (" +
                              dir_.path() + "/NAME.img)"),
            std::string::npos)
      << r.err;
}

TEST_F(Actionable, MissingTargetDirectorySaysToCreateIt) {
  const std::string dst = dir_.file("a/b/dst.img");
  CommandResult r = run_sparsync({"--retries=0", src(), dst});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(only_line(r).find("create the directory first (mkdir -p " + dir_.file("a/b") + ") or check the path"),
            std::string::npos)
      << r.err;
  CommandResult source = run_sparsync({"--retries=0", dir_.file("no/src.img"), dst});
  EXPECT_EQ(source.exit_code, 3) << source.err;
  EXPECT_NE(only_line(source).find("; check the path"), std::string::npos) << source.err;
}

TEST_F(Actionable, NoSpaceSaysHowMuchIsNeededAndFree) {
  const std::string small = dir_.file("small");
  ::mkdir(small.c_str(), 0755);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=4m") != 0) {
    GTEST_SKIP() << "mount -t tmpfs -o size=4m failed: " << std::strerror(errno);
  }
  const std::string dense = dir_.file("dense.img");
  SparseImage(dense, 16 * kMiB).data(0, 16 * kMiB, 3);
  CommandResult r = run_sparsync({"--retries=0", dense, small + "/dst.img"});
  ::umount2(small.c_str(), MNT_DETACH);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  std::string line = only_line(r);
  EXPECT_NE(line.find("No space left on device; the 16.0 MiB image needs up to "), std::string::npos) << line;
  EXPECT_TRUE(std::regex_search(line, std::regex("more space and its filesystem has [0-9.]+ [KMG]?i?B free: make "
                                                 "room there \\(or give a target on a larger filesystem\\), then "
                                                 "run the same command to resume$")))
      << line;
}

}  // namespace
}  // namespace sparsync::testing
