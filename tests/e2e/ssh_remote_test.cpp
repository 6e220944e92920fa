// The far side over a real sshd: uploading this binary when the far host has
// none, refusing to with --no-upload, names that a shell would mangle, the
// far side's errors and exit status reaching the user, and a block device
// target.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

#include "support/files.h"
#include "support/loop_device.h"
#include "support/process.h"
#include "support/sizes.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

std::set<std::string> list_dir(const std::string& path) {
  std::set<std::string> names;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  ::closedir(d);
  return names;
}

void write_script(const std::string& path, const std::string& body) {
  std::ofstream(path) << "#!/bin/sh\n" << body;
  ::chmod(path.c_str(), 0755);
}

class SshRemote : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    SparseImage(src(), 8 * kMiB).data(0, kMiB, 1).data(5 * kMiB, 512 * 1024, 2);
  }
  std::string src() const { return dir_.file("src.img"); }
  // ssh_args() with --remote-path replaced.
  std::vector<std::string> args_with_remote_path(const std::string& remote_path) const {
    std::vector<std::string> args = sshd_->ssh_args();
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--remote-path") args[i + 1] = remote_path;
    }
    return args;
  }
  CommandResult run(std::vector<std::string> args, const std::string& from, const std::string& to) {
    args.push_back(from);
    args.push_back(to);
    return sshd_->run(args);
  }
  TempDir dir_;
};

TEST_F(SshRemote, MissingFarBinaryIsUploadedForTheRunAndRemoved) {
  std::string dst = dir_.file("dst.img");
  CommandResult r = run(args_with_remote_path("/nonexistent/sparsync"), src(), SshdFixture::remote(dst));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src(), dst), std::nullopt);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("uploading this sparsync .* to 127\\.0\\.0\\.1:(/\\S+)/sparsync")))
      << r.err;
  EXPECT_FALSE(exists(m[1].str())) << "upload directory left behind: " << m[1].str();
}

// A client killed mid-run (or a link that drops) never gets to remove the
// upload itself: the far shell does, once the server sees its stdin close.
TEST_F(SshRemote, UploadIsRemovedWhenTheClientDiesMidRun) {
  std::string dst = dir_.file("dst.img");
  std::vector<std::string> argv = {SPARSYNC_BINARY};
  for (const auto& a : args_with_remote_path("/nonexistent/sparsync")) argv.push_back(a);
  // 1.5 MiB of data at 256 KiB/s: about six seconds of run to kill.
  for (const char* a : {"--bwlimit", "256K", "--retries", "0"}) argv.push_back(a);
  argv.push_back(src());
  argv.push_back(SshdFixture::remote(dst));
  auto client = Process::start(argv);
  ASSERT_TRUE(client);
  std::regex uploaded("uploading this sparsync .* to 127\\.0\\.0\\.1:(/\\S+)/sparsync");
  std::smatch m;
  std::string err;
  // The target exists once the uploaded server has opened it.
  ASSERT_TRUE(wait_until(
      [&] {
        err = client->stderr_so_far();
        return std::regex_search(err, m, uploaded) && exists(dst) && allocated_bytes(dst) > 0;
      },
      30))
      << client->stderr_so_far();
  std::string upload_dir = m[1].str();
  ASSERT_TRUE(exists(upload_dir + "/sparsync"));
  ASSERT_TRUE(client->running()) << "the run ended before it could be killed";
  ASSERT_TRUE(client->signal(SIGKILL));
  ASSERT_TRUE(client->wait(10).has_value());
  EXPECT_TRUE(wait_until([&] { return !exists(upload_dir); }, 20)) << "upload directory left behind: " << upload_dir;
}

TEST_F(SshRemote, PullAlsoUploads) {
  std::string dst = dir_.file("pulled.img");
  CommandResult r = run(args_with_remote_path("/nonexistent/sparsync"), SshdFixture::remote(src()), dst);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src(), dst), std::nullopt);
}

TEST_F(SshRemote, NoUploadFailsClearlyWhenTheFarBinaryIsMissing) {
  std::vector<std::string> args = args_with_remote_path("/nonexistent/sparsync");
  args.push_back("--no-upload");
  CommandResult r = run(args, src(), SshdFixture::remote(dir_.file("dst.img")));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1 has no sparsync at '/nonexistent/sparsync'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--no-upload"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dir_.file("dst.img")));
}

// What a server of another protocol version does (PROTOCOL.md §3): answers
// the client's HELLO with ERROR code 6. The frame by hand: type 0x7f,
// length 42; code 6; a 38-byte message.
const char* kOtherVersionServer =
    "printf '\\177\\000\\000\\000\\052\\000\\000\\000\\006\\000\\046\\000%s' "
    "'sparsync 9.9 speaks protocol version 2'\nexit 6\n";

TEST_F(SshRemote, OtherProtocolVersionIsRefusedWithNoUpload) {
  std::string old = dir_.file("old-sparsync");
  write_script(old, kOtherVersionServer);
  std::vector<std::string> args = args_with_remote_path(old);
  args.push_back("--no-upload");
  CommandResult r = run(args, src(), SshdFixture::remote(dir_.file("dst.img")));
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_NE(r.err.find("sparsync 9.9 speaks protocol version 2"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dir_.file("dst.img")));
}

TEST_F(SshRemote, OtherProtocolVersionIsReplacedByAnUpload) {
  std::string old = dir_.file("old-sparsync");
  write_script(old, kOtherVersionServer);
  std::string dst = dir_.file("dst.img");
  CommandResult r = run(args_with_remote_path(old), src(), SshdFixture::remote(dst));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src(), dst), std::nullopt);
  EXPECT_NE(r.err.find("uploading this sparsync"), std::string::npos) << r.err;
}

// One name per test: each push and pull pays for an SSH login.
class SshNames : public SshRemote, public ::testing::WithParamInterface<std::string> {};

TEST_P(SshNames, ReachExactlyThatFile) {
  const std::string name = GetParam();
  TempDir target_dir;
  std::string dst = target_dir.file(name);
  CommandResult r = run(sshd_->ssh_args(), src(), SshdFixture::remote(dst));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(list_dir(target_dir.path()), std::set<std::string>{name});
  EXPECT_EQ(first_difference(src(), dst), std::nullopt);
  // And back: pulling from that name reads exactly that file.
  std::string back = dir_.file("back.img");
  CommandResult p = run(sshd_->ssh_args(), SshdFixture::remote(dst), back);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(first_difference(src(), back), std::nullopt);
  EXPECT_EQ(list_dir(target_dir.path()), std::set<std::string>{name});
  // The far shell runs in the user's home: nothing was executed there either.
  EXPECT_FALSE(exists("/root/pwned"));
  EXPECT_FALSE(exists(dir_.file("pwned")));
}

INSTANTIATE_TEST_SUITE_P(ShellMetacharacters, SshNames,
                         ::testing::Values("a b", "$(touch pwned)", "*", "-leading", "q'uo\"te", "semi;colon`x`",
                                           "new\nline"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return "name" + std::to_string(param.index);
                         });

TEST_F(SshRemote, SudoRunsTheFarSideOrSaysWhyNot) {
  std::vector<std::string> args = sshd_->ssh_args();
  args.push_back("--sudo");
  std::string dst = dir_.file("dst.img");
  CommandResult r = run(args, src(), SshdFixture::remote(dst));
  if (::access("/usr/bin/sudo", X_OK) == 0 && ::geteuid() != 0 && r.exit_code != 0) {
    // Not root: this tester's sudo may want a password, and the run must say so.
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_NE(r.err.find("wants a password"), std::string::npos) << r.err;
  } else if (::access("/usr/bin/sudo", X_OK) == 0) {
    // Root (or a NOPASSWD sudoer) here: sudo -n needs no password.
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(first_difference(src(), dst), std::nullopt);
    // Lanes reach a server started through sudo (handing the socket to a
    // non-root caller is tested in lanes_test: here the caller is root too).
    std::string laned = dir_.file("laned.img");
    for (const char* a : {"--lanes", "4", "-v"}) args.push_back(a);
    r = run(args, src(), SshdFixture::remote(laned));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("sending over 4 lanes"), std::string::npos) << r.err;
    EXPECT_EQ(first_difference(src(), laned), std::nullopt);
  } else {
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_NE(r.err.find("sudo is not installed on 127.0.0.1"), std::string::npos) << r.err;
    EXPECT_FALSE(exists(dst));
  }
}

TEST_F(SshRemote, FarSideErrorsArePrintedWithTheHostAndExitCode) {
  CommandResult r = run(sshd_->ssh_args(), src(), SshdFixture::remote("/nonexistent-dir/dst.img"));
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1: cannot open /nonexistent-dir/dst.img: /nonexistent-dir: No such file"),
            std::string::npos)
      << r.err;
}

TEST_F(SshRemote, FarSideStderrIsRelayedWithTheHostPrefix) {
  std::string fake = dir_.file("fake-sparsync");
  write_script(fake, "echo 'something odd happened' >&2\nexit 3\n");
  CommandResult r = run(args_with_remote_path(fake), src(), SshdFixture::remote(dir_.file("dst.img")));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1: something odd happened\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("exited with status 3"), std::string::npos) << r.err;
}

TEST_F(SshRemote, FarSideThatEndsWithoutDoneIsAnError) {
  std::string fake = dir_.file("fake-sparsync");
  // Answers HELLO like a version 1 server (the golden HELLO of PROTOCOL.md),
  // then exits 0 mid-session.
  write_script(fake,
               "printf '\\001\\000\\000\\000\\044\\000\\000\\000sparsync\\001\\000\\000\\000"
               "\\017\\000\\000\\000\\000\\000\\000\\000\\016\\000%s' 'sparsync 0.1.0'\nexit 0\n");
  std::vector<std::string> args = args_with_remote_path(fake);
  args.insert(args.end(), {"--retries", "0"});
  CommandResult r = run(args, src(), SshdFixture::remote(dir_.file("dst.img")));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(r.out.find("synced"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("the server on 127.0.0.1 exited (status 0) before the session ended"), std::string::npos)
      << r.err;
}

TEST_F(SshRemote, LoopDeviceTarget) {
  std::string backing = dir_.file("disk.raw");
  { std::ofstream(backing).close(); }
  ASSERT_EQ(::truncate(backing.c_str(), static_cast<off_t>(8 * kMiB)), 0);
  std::string why;
  auto loop = LoopDevice::attach(backing, &why);
  if (!loop) GTEST_SKIP() << "no loop device: " << why;
  CommandResult r = run(sshd_->ssh_args(), src(), SshdFixture::remote(loop->path()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src(), loop->path()), std::nullopt);
  CommandResult again = run(sshd_->ssh_args(), src(), SshdFixture::remote(loop->path()));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto summary = parse_summary(again.out.substr(0, again.out.find('\n')));
  ASSERT_TRUE(summary.has_value()) << again.out;
  EXPECT_EQ(summary->changed, 0u) << again.out;
}

}  // namespace
}  // namespace sparsync::testing
