// Errors and progress a person can act on (issue 19), over a real sshd: a
// local problem in a push is one line about it (nothing from the far side
// that points at the network), -q silences the far side's notices, --status
// host:path asks the far host, and the far side's refusals say what to do.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/checkpoint_store.h"
#include "support/files.h"
#include "support/sizes.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

class SshActionable : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    SparseImage(src(), 4 * kMiB).data(0, kMiB, 1).data(3 * kMiB, 256 * 1024, 2);
  }
  std::string src() const { return dir_.file("src.img"); }
  CommandResult run(std::vector<std::string> extra, const std::string& from, const std::string& to) const {
    std::vector<std::string> args = sshd_->ssh_args();
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(from);
    args.push_back(to);
    return sshd_->run(args);
  }
  TempDir dir_;
};

void expect_only_line_naming(const CommandResult& r, const std::string& what) {
  std::vector<std::string> lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find(what), std::string::npos) << lines[0];
  EXPECT_EQ(r.err.find("peer closed"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("[server]"), std::string::npos) << r.err;
}

// Issue 19 item 4: a missing source, or a directory, is this host's problem;
// the far side must not add "peer closed the connection", -q or not.
TEST_F(SshActionable, LocalSourceProblemIsTheOnlyLine) {
  std::string dst = dir_.file("dst.img");
  for (const std::vector<std::string>& extra : {std::vector<std::string>{}, std::vector<std::string>{"-q"}}) {
    SCOPED_TRACE(extra.empty() ? "default" : "-q");
    CommandResult missing = run(extra, dir_.file("no-such.img"), SshdFixture::remote(dst));
    EXPECT_EQ(missing.exit_code, 3) << missing.err;
    expect_only_line_naming(missing, dir_.file("no-such.img"));
    CommandResult directory = run(extra, dir_.path(), SshdFixture::remote(dst));
    EXPECT_EQ(directory.exit_code, 3) << directory.err;
    expect_only_line_naming(directory, dir_.path());
  }
  EXPECT_FALSE(exists(dst));
}

// A pipe without --size: a usage error here, before the far side is started.
TEST_F(SshActionable, PipeWithoutSizeIsTheOnlyLine) {
  std::vector<std::string> argv{"/bin/sh",
                                "-c",
                                "printf data | exec \"$@\"",
                                "sh",
                                "/usr/bin/env",
                                "-u",
                                "SSH_AUTH_SOCK",
                                "HOME=" + sshd_->home(),
                                SPARSYNC_BINARY};
  std::vector<std::string> args = sshd_->ssh_args();
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("-");
  argv.push_back(SshdFixture::remote(dir_.file("dst.img")));
  CommandResult r = run_command(argv);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  expect_only_line_naming(r, "--size");
}

// Nothing is connected for a source that cannot be opened: a host that
// cannot be reached does not hide the real problem.
TEST_F(SshActionable, SourceIsCheckedBeforeConnecting) {
  std::vector<std::string> args = sshd_->ssh_args();
  args[1] = "1";  // -p 1: nothing listens there
  args.push_back(dir_.file("no-such.img"));
  args.push_back(SshdFixture::remote(dir_.file("dst.img")));
  CommandResult r = sshd_->run(args);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  expect_only_line_naming(r, dir_.file("no-such.img"));
}

// Issue 19 item 7: the far side's notices are info, and -q prints errors only.
TEST_F(SshActionable, QuietSilencesTheFarSidesNotices) {
  std::string dst = dir_.file("dst.img");
  ASSERT_EQ(run({}, src(), SshdFixture::remote(dst)).exit_code, 0);
  auto plant_unreadable_checkpoint = [&] { std::ofstream(checkpoint_path(dst, false)) << "not a checkpoint"; };
  plant_unreadable_checkpoint();
  CommandResult loud = run({}, src(), SshdFixture::remote(dst));
  ASSERT_EQ(loud.exit_code, 0) << loud.err;
  EXPECT_NE(loud.err.find("ignoring unreadable checkpoint"), std::string::npos) << loud.err;
  plant_unreadable_checkpoint();
  CommandResult quiet = run({"-q"}, src(), SshdFixture::remote(dst));
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
}

// Issue 19 item 8: the far side's refusals say what to do there.
TEST_F(SshActionable, FarTargetProblemsSayWhatToDo) {
  CommandResult missing = run({"--retries=0"}, src(), SshdFixture::remote(dir_.file("no/such/dst.img")));
  EXPECT_EQ(missing.exit_code, 4) << missing.err;
  ASSERT_EQ(missing.err_lines().size(), 1u) << missing.err;
  EXPECT_NE(missing.err.find("127.0.0.1: "), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("(mkdir -p " + dir_.file("no/such") + ") or check the path"), std::string::npos)
      << missing.err;
  CommandResult directory = run({"--retries=0"}, src(), SshdFixture::remote(dir_.path()));
  EXPECT_EQ(directory.exit_code, 4) << directory.err;
  ASSERT_EQ(directory.err_lines().size(), 1u) << directory.err;
  EXPECT_NE(directory.err.find("is a directory; give the name of an image file inside it"), std::string::npos)
      << directory.err;
}

// Issue 19 item 6: --status host:path asks the far host, with the sync's SSH
// options, and prints its report escaped.
TEST_F(SshActionable, StatusOfARemoteTargetAsksTheFarHost) {
  // A name with an escape sequence in it: the far side's text is printed escaped.
  const std::string dst = dir_.file("dst\x1b[31m.img");
  ASSERT_EQ(run({}, src(), SshdFixture::remote(dst)).exit_code, 0);
  std::vector<std::string> args = sshd_->ssh_args();
  args.insert(args.end(), {"--status", SshdFixture::remote(dst)});
  CommandResult complete = sshd_->run(args);
  ASSERT_EQ(complete.exit_code, 0) << complete.err;
  EXPECT_EQ(complete.out.find('\x1b'), std::string::npos) << complete.out;
  EXPECT_EQ(complete.out.rfind("127.0.0.1:" + dir_.path() + "/dst", 0), 0u) << complete.out;
  EXPECT_NE(complete.out.find(".img: complete (no interrupted sync recorded)\n"), std::string::npos) << complete.out;

  std::ofstream(checkpoint_path(dst, false)) << "not a checkpoint";
  CommandResult incomplete = sshd_->run(args);
  ASSERT_EQ(incomplete.exit_code, 0) << incomplete.err;
  EXPECT_NE(incomplete.out.find(": incomplete (checkpoint "), std::string::npos) << incomplete.out;

  // As JSON: the far side's object, with the host, the hostile name's
  // escape as \u001b and never raw.
  std::vector<std::string> json_args = sshd_->ssh_args();
  json_args.insert(json_args.end(), {"--status", "--json", SshdFixture::remote(dst)});
  CommandResult as_json = sshd_->run(json_args);
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  EXPECT_EQ(as_json.out.find('\x1b'), std::string::npos) << as_json.out;
  EXPECT_NE(as_json.out.find("\\u001b"), std::string::npos) << as_json.out;
  nlohmann::json j = nlohmann::json::parse(as_json.out);
  EXPECT_EQ(j["host"], "127.0.0.1");
  EXPECT_EQ(j["target"], dst);
  EXPECT_EQ(j["state"], "incomplete");
  EXPECT_EQ(j["checkpoint"]["unreadable"], true);
  // A far sparsync from before --status --json prints its text line: said
  // so, not passed on as if it were JSON.
  const std::string old = dir_.file("old-sparsync");
  std::ofstream(old) << "#!/bin/sh\necho \"$4: complete (no interrupted sync recorded)\"\n";
  ::chmod(old.c_str(), 0755);
  for (size_t i = 0; i + 1 < json_args.size(); ++i) {
    if (json_args[i] == "--remote-path") json_args[i + 1] = old;
  }
  CommandResult older = sshd_->run(json_args);
  EXPECT_EQ(older.exit_code, 5) << older.err;
  EXPECT_EQ(older.out, "");
  EXPECT_NE(older.err.find("127.0.0.1's sparsync printed no JSON for --status --json (an older version)"),
            std::string::npos)
      << older.err;

  // A far host without sparsync: this one is uploaded for the question.
  args = sshd_->ssh_args();
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--remote-path") args[i + 1] = "/nonexistent/sparsync";
  }
  args.insert(args.end(), {"--status", SshdFixture::remote(dst)});
  CommandResult uploaded = sshd_->run(args);
  ASSERT_EQ(uploaded.exit_code, 0) << uploaded.err;
  EXPECT_NE(uploaded.out.find(": incomplete (checkpoint "), std::string::npos) << uploaded.out;
  EXPECT_TRUE(std::filesystem::is_empty(sshd_->far_tmpdir())) << "the upload was left on the far host";

  // A far target that does not exist: its exit code, its line, from its host.
  args = sshd_->ssh_args();
  args.insert(args.end(), {"--status", SshdFixture::remote(dir_.file("none.img"))});
  CommandResult missing = sshd_->run(args);
  EXPECT_EQ(missing.exit_code, 4) << missing.err;
  ASSERT_EQ(missing.err_lines().size(), 1u) << missing.err;
  EXPECT_EQ(missing.err.rfind("sparsync: 127.0.0.1: ", 0), 0u) << missing.err;
  EXPECT_NE(missing.err.find(dir_.file("none.img")), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace sparsync::testing
