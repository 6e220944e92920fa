// --changes over a real sshd (PROTOCOL.md §4.19): a tracked push sends its
// change list behind OPEN and the far target, proving itself the last run's
// result, reads nothing (digest) and writes only what changed; a far
// sparsync without kFeatureChanges (this binary behind a filter that
// clears the bit from its HELLO) is sent no list, and the run compares in
// full, says why, and ends identical; and a block device source that
// changes between the pre-scan (during the SSH login) and the copy of what
// it found changed keeps no digests that would hide the change later.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/files.h"
#include "support/loop_device.h"
#include "support/process.h"
#include "support/sizes.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

constexpr uint64_t kSshTracked = 16 * kMiB;

class SshChanges : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    src_ = dir_.file("src.img");
    dst_ = dir_.file("dst.img");
    SparseImage(src_, kSshTracked).data(0, 4 * kMiB, 31).data(8 * kMiB, 4 * kMiB, 32);
    ::setenv("SPARSYNC_STATE_DIR", dir_.file("state").c_str(), 1);
  }
  void TearDown() override { ::unsetenv("SPARSYNC_STATE_DIR"); }

  std::vector<std::string> push_argv(const std::string& remote_path) const {
    std::vector<std::string> a{"/usr/bin/env", "-u", "SSH_AUTH_SOCK", "HOME=" + sshd_->home(), SPARSYNC_BINARY};
    std::vector<std::string> ssh = sshd_->ssh_args();
    for (size_t i = 0; !remote_path.empty() && i + 1 < ssh.size(); ++i) {
      if (ssh[i] == "--remote-path") ssh[i + 1] = remote_path;
    }
    a.insert(a.end(), ssh.begin(), ssh.end());
    a.insert(a.end(), {"--json", "--changes", "digest", "--no-upload", src_, SshdFixture::remote(dst_)});
    return a;
  }
  static nlohmann::json json_of(const CommandResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << "no JSON: " << r.out << r.err;
      return nlohmann::json::object({{"change_source", "?"}});
    }
  }
  nlohmann::json push(const std::string& remote_path = "") { return json_of(run_command(push_argv(remote_path))); }
  TempDir dir_;
  std::string src_, dst_;
};

void overwrite_at(const std::string& path, uint64_t offset, uint64_t length, uint32_t seed) {
  std::vector<uint8_t> bytes = pattern_bytes(seed, offset, length);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

TEST_F(SshChanges, DigestOverSshLeavesTheFarTargetUnread) {
  EXPECT_EQ(push()["change_source"], "full");
  overwrite_at(src_, 2 * kMiB, 8 * kKiB, 33);
  overwrite_at(src_, 13 * kMiB, 4 * kKiB, 33);
  nlohmann::json j = push();
  EXPECT_EQ(j["change_source"], "digest");
  EXPECT_EQ(j["target_bytes_hashed"], 0);
  EXPECT_EQ(j["data_bytes"], 12 * kKiB);
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
}

TEST_F(SshChanges, AFarSideWithoutTheFeatureIsSentNoListAndComparesInFull) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3 for the HELLO filter";
  // The far side: this sparsync, its HELLO's feature bit 12 cleared on the
  // way out (byte 21 of the stream: payload offset 12, the u64's second byte).
  const std::string filter = dir_.file("hello-filter.py");
  std::ofstream(filter) << "import os, subprocess, sys, threading\n"
                           "p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, "
                           "bufsize=0)\n"
                           "def up():\n"
                           "    while True:\n"
                           "        b = os.read(0, 65536)\n"
                           "        if not b:\n"
                           "            p.stdin.close()\n"
                           "            return\n"
                           "        p.stdin.write(b)\n"
                           "threading.Thread(target=up, daemon=True).start()\n"
                           "head = b''\n"
                           "while len(head) < 28:\n"
                           "    b = p.stdout.read(28 - len(head))\n"
                           "    if not b:\n"
                           "        break\n"
                           "    head += b\n"
                           "if len(head) == 28:\n"
                           "    head = head[:21] + bytes([head[21] & ~0x10]) + head[22:]\n"
                           "os.write(1, head)\n"
                           "while True:\n"
                           "    b = p.stdout.read(65536)\n"
                           "    if not b:\n"
                           "        break\n"
                           "    os.write(1, b)\n"
                           "sys.exit(p.wait())\n";
  const std::string old = dir_.file("old-sparsync");
  std::ofstream(old) << "#!/bin/sh\nexec /usr/bin/python3 '" << filter << "' '" << SPARSYNC_BINARY << "' \"$@\"\n";
  ::chmod(old.c_str(), 0755);
  EXPECT_EQ(push(old)["change_source"], "full");
  overwrite_at(src_, 2 * kMiB, 8 * kKiB, 34);
  nlohmann::json j = push(old);
  EXPECT_EQ(j["change_source"], "full");
  EXPECT_EQ(j["fallback_reason"], "the far side's sparsync takes no change list (an older version)");
  EXPECT_GT(j["target_bytes_hashed"].get<uint64_t>(), 0u);
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
}

// Written through the device and flushed, as a guest's write would land.
void write_through(const std::string& device, uint64_t offset, uint64_t length, uint32_t seed) {
  std::vector<uint8_t> bytes = pattern_bytes(seed, offset, length);
  const int fd = ::open(device.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << device;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(length));
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
}

// The pre-scan compares the source with the stored digests while SSH logs
// in, and the session re-reads only what it found changed. A block device
// source names no mtime that would fail the run when it changes, so what the
// session re-read must be what the pre-scan saw, or the digests it kept
// would describe something the target never got: a block changed back to
// what the pre-scan saw would then pass as unchanged, and the copy would
// stay wrong for good.
TEST_F(SshChanges, ABlockDeviceSourceChangedDuringTheLoginKeepsNoDigestsThatHideIt) {
  const std::string backing = dir_.file("source-disk.raw");
  SparseImage(backing, kSshTracked).data(0, 4 * kMiB, 35).data(8 * kMiB, 4 * kMiB, 36);
  std::string why;
  auto loop = LoopDevice::attach(backing, &why);
  if (!loop) GTEST_SKIP() << why;
  src_ = loop->path();
  EXPECT_EQ(push()["change_source"], "full");
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);

  // The far side starts only once the test says so: the login is long.
  const std::string started = dir_.file("far-started"), go = dir_.file("go");
  const std::string slow = dir_.file("slow-sparsync");
  std::ofstream(slow) << "#!/bin/sh\ntouch '" << started << "'\ni=0\nwhile [ ! -e '" << go
                      << "' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\nexec '" << SPARSYNC_BINARY
                      << "' \"$@\"\n";
  ::chmod(slow.c_str(), 0755);
  write_through(src_, 2 * kMiB, 8 * kKiB, 37);  // what the pre-scan will see
  auto run = Process::start(push_argv(slow));
  // The pre-scan has read everything once its digest file is whole: the
  // header, one 16-byte digest per 4 KiB block, the checksum.
  const uint64_t whole = 64 + kSshTracked / 4096 * 16 + 8;
  std::string scan;
  ASSERT_TRUE(wait_until(
      [&] {
        for (const std::string& name : directory_entries(dir_.file("state"))) {
          if (name.size() > 13 && name.substr(name.size() - 13) == ".digests.scan") {
            scan = dir_.file("state") + "/" + name;
          }
        }
        return (!scan.empty() && file_size(scan) >= whole) || !run->running();
      },
      30))
      << "no whole pre-scan";
  ASSERT_TRUE(run->running()) << run->stderr_so_far();
  write_through(src_, 2 * kMiB, 8 * kKiB, 38);  // what the session will read
  write_text(go, "go");
  auto second = run->wait(60);
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(exists(started));
  nlohmann::json j = json_of(*second);
  EXPECT_EQ(j["change_source"], "digest") << "the pre-scan's list was used";
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt) << "the target got what the session read";

  write_through(src_, 2 * kMiB, 8 * kKiB, 37);  // back to what the pre-scan saw
  nlohmann::json third = push();
  EXPECT_EQ(third["change_source"], "full");
  EXPECT_EQ(third["fallback_reason"], "the source changed between the comparison and the copy of what differed");
  EXPECT_EQ(first_difference(src_, dst_), std::nullopt);
}

}  // namespace
}  // namespace sparsync::testing
