// A hostile far side that speaks the protocol: its ERROR text, the path its
// OPEN_OK says it opened, its HELLO's software string and its stderr carry
// CR, LF, ANSI escapes, C1 controls, bidi overrides and invalid UTF-8. The
// client must show each as one escaped line: nothing on stdout or stderr a
// terminal would act on, no forged "synced" line, JSON that parses, and the
// documented exit code. The far side is a shell script given as
// --remote-path that prints frames built here and crafted stderr.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/printable.h"
#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"
#include "support/files.h"
#include "support/pty.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

// Every class of byte the issue names, in one message.
const std::string kHostileText =
    "disk gone\r\nsynced /a -> b:/c: 1.00 GiB scanned, 0 B sent as data\n"
    "\x1b[2K\x1b]0;pwned\x07 bad \xff\xfe utf8, C1 \xc2\x9b"
    "31m and raw \x9b, "
    "bidi \xe2\x80\xae"
    "fdp.exe, tab\there";

std::string peer_frame(proto::MsgType type, const std::vector<uint8_t>& payload) {
  uint8_t header[proto::kFrameHeaderSize];
  proto::encode_header(type, static_cast<uint32_t>(payload.size()), header);
  std::string out(reinterpret_cast<const char*>(header), sizeof header);
  out.append(payload.begin(), payload.end());
  return out;
}

std::string peer_hello(uint16_t version, const std::string& software) {
  proto::Hello h;
  h.version = version;
  h.features = proto::kFeatureXxh3;
  h.software = software;
  return peer_frame(proto::MsgType::kHello, proto::encode(h));
}

std::string peer_error(proto::ErrorCode code, const std::string& message) {
  return peer_frame(proto::MsgType::kError, proto::encode(proto::Error{code, message}));
}

// Everything a target says for a 4096-byte all-zero source it "created",
// up to SUMMARY: the client's run succeeds and prints `path`.
std::string peer_target_session(const std::string& path) {
  proto::OpenOk ok;
  ok.state = proto::TargetState::kCreated;
  ok.path = path;
  proto::Summary sum;
  sum.final_size = 4096;
  return peer_frame(proto::MsgType::kOpenOk, proto::encode(ok)) +
         peer_frame(proto::MsgType::kResume, proto::encode(proto::Resume{0})) +
         peer_frame(proto::MsgType::kHashZero, proto::encode(proto::HashZero{0, 1})) +
         peer_frame(proto::MsgType::kHashEnd, proto::encode(proto::HashEnd{1})) +
         peer_frame(proto::MsgType::kSummary, proto::encode(sum));
}

// No byte a terminal acts on except our own line ends, nothing printable()
// would change (C1, bidi, invalid UTF-8), and no forged summary line.
void expect_safe_output(const std::string& text, bool synced_allowed) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    EXPECT_EQ(printable(line), line) << "raw control or invalid UTF-8 in: " << printable(line);
    if (!synced_allowed) {
      EXPECT_NE(line.rfind("synced", 0), 0u) << "forged summary line: " << line;
    }
  }
}

class SshPeerText : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    SparseImage(src(), 4096);
  }
  std::string src() const { return dir_.file("src.img"); }

  // A far "sparsync" that writes `stderr_before`; then, if `hello` is not
  // empty, reads the client's HELLO and answers `hello`; then, if `session`
  // is not empty, reads OPEN and answers `session`; then writes
  // `stderr_after`, waits (after a session) for the client to close its
  // stdin and exits with `exit_code`. It answers only what it has read, as a server does (the
  // client's reader of HELLO is not the session's).
  std::string hostile_far_side(const std::string& hello, const std::string& session,
                               const std::string& stderr_before = "", const std::string& stderr_after = "",
                               int exit_code = 0) {
    std::ofstream(dir_.file("hello.bin"), std::ios::binary) << hello;
    std::ofstream(dir_.file("session.bin"), std::ios::binary) << session;
    std::ofstream(dir_.file("err1.bin"), std::ios::binary) << stderr_before;
    std::ofstream(dir_.file("err2.bin"), std::ios::binary) << stderr_after;
    std::string script = dir_.file("far-sparsync");
    std::ofstream out(script);
    out << "#!/bin/sh\ncd " << dir_.path() << "\n"
        << "skip_frame() { head -c 8 > hdr; head -c $(od -An -tu4 -j4 -N4 hdr) > /dev/null; }\n"
        << "cat err1.bin >&2\n";
    if (!hello.empty()) out << "skip_frame; cat hello.bin\n";
    if (!session.empty()) out << "skip_frame; cat session.bin\n";
    out << "cat err2.bin >&2\n";
    // Its stderr is on the way before it exits: what is tested is how the
    // text is shown, not a race between the far side's last words and its
    // exit (sshd may close the channel first, under load).
    if (!stderr_after.empty()) out << "sleep 1\n";
    // After a session it waits for the client to end it; else it ends first.
    if (!session.empty()) out << "cat >/dev/null\n";
    out << "exit " << exit_code << "\n";
    out.close();
    ::chmod(script.c_str(), 0755);
    return script;
  }

  // A push to the far side, or with `pull` a pull from it into dst.img here.
  CommandResult run_against(const std::string& far, std::vector<std::string> extra, bool pull = false) {
    std::vector<std::string> args = sshd_->ssh_args();
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--remote-path") args[i + 1] = far;
    }
    args.insert(args.end(), {"--retries", "0", "--no-upload"});
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(pull ? SshdFixture::remote("/srv/img") : src());
    args.push_back(pull ? dir_.file("dst.img") : SshdFixture::remote(dir_.file("dst.img")));
    return sshd_->run(args);
  }

  TempDir dir_;
};

TEST_F(SshPeerText, ErrorTextIsOneEscapedLine) {
  std::string far =
      hostile_far_side(peer_hello(1, "sparsync 0.1.0"), peer_error(proto::ErrorCode::kTarget, kHostileText));
  CommandResult r = run_against(far, {});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(r.out, "");
  expect_safe_output(r.err, false);
  EXPECT_NE(r.err.find("sparsync: 127.0.0.1: " + printable(kHostileText) + "\n"), std::string::npos) << r.err;
}

TEST_F(SshPeerText, ErrorTextInJsonParsesAndHoldsTheEscapedText) {
  std::string far =
      hostile_far_side(peer_hello(1, "sparsync 0.1.0"), peer_error(proto::ErrorCode::kSource, kHostileText));
  CommandResult r = run_against(far, {"--json"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  expect_safe_output(r.out, false);
  expect_safe_output(r.err, false);
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(r.out)) << r.out;
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_EQ(j["error"], "127.0.0.1: " + printable(kHostileText));
}

TEST_F(SshPeerText, OpenedPathIsEscapedInTheSummaryAndVerboseLines) {
  std::string path = "/srv/x\r\nsynced /etc/shadow -> evil:/x: 1.00 GiB scanned\x1b[1A\xc2\x85\xff\xe2\x80\xae";
  std::string far = hostile_far_side(peer_hello(1, "sparsync 0.1.0"), peer_target_session(path));
  CommandResult r = run_against(far, {"-v"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_safe_output(r.out, true);
  expect_safe_output(r.err, false);
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_EQ(r.out.rfind("synced " + src() + " -> 127.0.0.1:" + printable(path) + ": 4.00 KiB scanned", 0), 0u) << r.out;
  EXPECT_NE(r.err.find("target 127.0.0.1:" + printable(path) + " (created)\n"), std::string::npos) << r.err;
}

TEST_F(SshPeerText, OpenedPathIsEscapedInJson) {
  std::string path = "/srv/\xc0\xafx\n\x1b[31mred\x9f";
  std::string far = hostile_far_side(peer_hello(1, "sparsync 0.1.0"), peer_target_session(path));
  CommandResult r = run_against(far, {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_safe_output(r.out, false);
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(r.out)) << r.out;
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["target"], "127.0.0.1:" + printable(path));
}

// In a pull the far side is the source: its path is the summary's source.
TEST_F(SshPeerText, PulledSourcePathIsEscapedInTheSummary) {
  std::string path = "/srv/y\nsynced a -> b: 1 B scanned\x1b[2K\x9b";
  proto::OpenOk ok;
  ok.size = 4096;
  ok.path = path;
  proto::Done done{4096, 4096, 0, 0, 0, 1, 0};
  std::string session =
      peer_frame(proto::MsgType::kOpenOk, proto::encode(ok)) + peer_frame(proto::MsgType::kDone, proto::encode(done));
  std::string far = hostile_far_side(peer_hello(1, "sparsync 0.1.0"), session);
  CommandResult r = run_against(far, {}, true);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_safe_output(r.out, true);
  expect_safe_output(r.err, false);
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_EQ(r.out.rfind("synced 127.0.0.1:" + printable(path) + " -> " + dir_.file("dst.img") + ": ", 0), 0u) << r.out;
}

// On a terminal the only escapes are our own progress line's ("\r",
// "\x1b[K"); the far side's stderr and ERROR arrive while it is drawn.
TEST_F(SshPeerText, OnATerminalOnlyOurOwnEscapesReachIt) {
  std::string far = hostile_far_side(peer_hello(1, "sparsync 0.1.0"),
                                     peer_error(proto::ErrorCode::kTarget, kHostileText), "", kHostileText + "\n", 0);
  std::vector<std::string> argv = {"/usr/bin/env", "-u", "SSH_AUTH_SOCK", "HOME=" + sshd_->home(), SPARSYNC_BINARY};
  std::vector<std::string> args = sshd_->ssh_args();
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--remote-path") args[i + 1] = far;
  }
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--retries", "0", "--no-upload", src(), SshdFixture::remote(dir_.file("dst.img"))});
  CommandResult r = run_with_pty_stderr(argv);
  EXPECT_EQ(r.exit_code, 4) << printable(r.err);
  EXPECT_NE(r.err.find("\x1b[K"), std::string::npos) << "no progress line was drawn";
  std::string text = r.err;
  for (const char* ours : {"\x1b[K", "\r"}) {
    for (size_t at; (at = text.find(ours)) != std::string::npos;) text.erase(at, std::strlen(ours));
  }
  expect_safe_output(text, false);
  EXPECT_NE(text.find("sparsync: 127.0.0.1: " + printable(kHostileText) + "\n"), std::string::npos) << printable(text);
}

TEST_F(SshPeerText, HelloSoftwareTextIsEscaped) {
  std::string far = hostile_far_side(peer_hello(99, kHostileText), "");
  CommandResult r = run_against(far, {});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  expect_safe_output(r.err, false);
  EXPECT_NE(r.err.find("(it has " + printable(kHostileText) + ", speaking protocol 99)"), std::string::npos) << r.err;
}

// Before HELLO the far stderr is held (it may be a shell's "not found"),
// then printed by the runner; after HELLO the pump relays it. Both escape.
TEST_F(SshPeerText, FarStderrBeforeHelloIsEscapedLineByLine) {
  std::string far =
      hostile_far_side("", "", "first\x1b[2K\rsynced a -> b: 0 B scanned\nsecond \xc2\x9b\xff\r\n", "", 3);
  CommandResult r = run_against(far, {});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  expect_safe_output(r.err, false);
  EXPECT_NE(r.err.find("sparsync: 127.0.0.1: first\\x1b[2K\\rsynced a -> b: 0 B scanned\n"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("sparsync: 127.0.0.1: second \\u009b\\xff\n"), std::string::npos) << r.err;
}

TEST_F(SshPeerText, FarStderrDuringTheSessionIsEscapedLineByLine) {
  std::string far = hostile_far_side(peer_hello(1, "sparsync 0.1.0"), "", "",
                                     "one\x1b]0;title\x07\nsynced x -> y: 1 B scanned\rtwo\xe2\x80\xae\n"
                                     "\xc2\x85no newline at the end",
                                     5);
  CommandResult r = run_against(far, {});
  EXPECT_NE(r.exit_code, 0) << r.err;
  expect_safe_output(r.err, false);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("sparsync: 127.0.0.1: one\\x1b]0;title\\x07\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sparsync: 127.0.0.1: synced x -> y: 1 B scanned\\rtwo\\u202e\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sparsync: 127.0.0.1: \\u0085no newline at the end\n"), std::string::npos) << r.err;
}

// A far side that writes stderr without ever ending a line must not make the
// client hold it all: it comes out in bounded lines.
// Stderr before HELLO is held back (it may be a shell's "command not found",
// which is ours to read); more than the 64 KiB held is the far side talking,
// and is shown, not cut at the cap.
// The far side's `c`s on our stderr: those in runs of 16 or more, so that a
// `c` in a random temporary name elsewhere on a line does not count.
size_t relayed(const std::string& line, char c) {
  size_t total = 0;
  for (size_t i = 0; i < line.size();) {
    size_t run = 0;
    while (i + run < line.size() && line[i + run] == c) ++run;
    if (run >= 16) total += run;
    i += run > 0 ? run : 1;
  }
  return total;
}

TEST_F(SshPeerText, LongFarStderrBeforeHelloIsShownWhole) {
  std::string far = hostile_far_side(peer_hello(1, "sparsync 0.1.0"), "", std::string(100000, 'B') + "\n", "", 5);
  CommandResult r = run_against(far, {});
  EXPECT_NE(r.exit_code, 0) << r.err;
  size_t bs = 0;
  for (const std::string& line : r.err_lines()) bs += relayed(line, 'B');
  EXPECT_EQ(bs, 100000u) << "the far side's text was cut at the held cap";
}

TEST_F(SshPeerText, EndlessFarStderrLineIsCutIntoBoundedLines) {
  std::string far = hostile_far_side(peer_hello(1, "sparsync 0.1.0"), "", "", std::string(100000, 'A'), 5);
  CommandResult r = run_against(far, {});
  EXPECT_NE(r.exit_code, 0) << r.err;
  size_t as = 0;
  for (const std::string& line : r.err_lines()) {
    EXPECT_LE(line.size(), 4200u);
    as += relayed(line, 'A');
  }
  EXPECT_EQ(as, 100000u) << "the far side's text was lost";
}

}  // namespace
}  // namespace sparsync::testing
