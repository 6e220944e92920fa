// Push and pull over a real sshd (tests/support/sshd_fixture.h): byte-for-byte
// results, holes kept, incremental runs sending only what changed.
#include <gtest/gtest.h>

#include <fstream>

#include "support/files.h"
#include "support/sizes.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

// Overwrites 4 KiB in place, leaving the rest of the image as it is.
void change_block(const std::string& path, uint64_t offset, uint32_t seed) {
  std::vector<uint8_t> bytes = pattern_bytes(seed, offset, 4096);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

class SshSync : public SshdTest {
 protected:
  CommandResult sync(const std::string& src, const std::string& dst, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = sshd_->ssh_args();
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(src);
    args.push_back(dst);
    return sshd_->run(args);
  }
  // A 64 MiB image holding 3 MiB of data in three places.
  std::string make_source(const std::string& path) {
    SparseImage(path, 64 * kMiB).data(0, kMiB, 1).data(20 * kMiB, kMiB, 2).data(63 * kMiB, kMiB, 3);
    return path;
  }
  TempDir dir_;
};

TEST_F(SshSync, PushCreatesAnIdenticalSparseTarget) {
  std::string src = make_source(dir_.file("src.img"));
  std::string dst = dir_.file("dst.img");
  CommandResult r = sync(src, SshdFixture::remote(dst));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src, dst), std::nullopt);
  EXPECT_LT(allocated_bytes(dst), 8 * kMiB) << "holes were filled on the target";
  EXPECT_NE(r.out.find("127.0.0.1:" + dst), std::string::npos) << r.out;
}

TEST_F(SshSync, PullCreatesAnIdenticalSparseTarget) {
  std::string src = make_source(dir_.file("src.img"));
  std::string dst = dir_.file("pulled.img");
  CommandResult r = sync(SshdFixture::remote(src), dst);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src, dst), std::nullopt);
  EXPECT_LT(allocated_bytes(dst), 8 * kMiB) << "holes were filled on the target";
  EXPECT_NE(r.out.find("127.0.0.1:" + src), std::string::npos) << r.out;
}

TEST_F(SshSync, IncrementalPushSendsOnlyTheChangedBlock) {
  std::string src = make_source(dir_.file("src.img"));
  std::string dst = dir_.file("dst.img");
  CommandResult first = sync(src, SshdFixture::remote(dst), {"-b", "4K"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(first_difference(src, dst), std::nullopt) << first.out;
  change_block(src, 20 * kMiB + 8192, 9);

  CommandResult r = sync(src, SshdFixture::remote(dst), {"-b", "4K"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src, dst), std::nullopt);
  auto summary = parse_summary(r.out.substr(0, r.out.find('\n')));
  ASSERT_TRUE(summary.has_value()) << r.out;
  EXPECT_EQ(summary->data, "4.00 KiB") << r.out;
  EXPECT_EQ(summary->changed, 1u) << r.out;
}

TEST_F(SshSync, IncrementalPullSendsOnlyTheChangedBlock) {
  std::string src = make_source(dir_.file("src.img"));
  std::string dst = dir_.file("dst.img");
  CommandResult first = sync(SshdFixture::remote(src), dst, {"-b", "4K"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(first_difference(src, dst), std::nullopt) << first.out;
  change_block(src, kMiB / 2, 7);
  CommandResult r = sync(SshdFixture::remote(src), dst, {"-b", "4K"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src, dst), std::nullopt);
  auto summary = parse_summary(r.out.substr(0, r.out.find('\n')));
  ASSERT_TRUE(summary.has_value()) << r.out;
  EXPECT_EQ(summary->data, "4.00 KiB") << r.out;
  EXPECT_EQ(summary->changed, 1u) << r.out;
}

}  // namespace
}  // namespace sparsync::testing

namespace sparsync::testing {
namespace {

TEST(SshIpv6, BracketedAddressPushAndPull) {
  std::string why;
  auto sshd = SshdFixture::start(&why);
  if (!sshd) GTEST_SKIP() << "no sshd for this test: " << why;
  if (sshd->run({"--version"}).exit_code != 0) GTEST_SKIP() << "sparsync does not run";
  // The key as recorded for [::1]:port, like ssh writes it.
  std::string line = sshd->host_key_line();
  std::ofstream(sshd->known_hosts()) << "[::1]:" << sshd->port() << line.substr(line.find(' '));
  TempDir dir;
  std::string src = dir.file("src.img");
  SparseImage(src, 4 * kMiB).data(kMiB, kMiB, 4);
  std::string dst = dir.file("dst.img");
  std::vector<std::string> args = sshd->ssh_args();
  args.push_back(src);
  args.push_back("[::1]:" + dst);
  CommandResult r = sshd->run(args);
  if (r.exit_code == 5 && r.err.find("cannot connect") != std::string::npos) {
    GTEST_SKIP() << "sshd does not listen on ::1 here: " << r.err;
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src, dst), std::nullopt);
  EXPECT_NE(r.out.find("[::1]:" + dst), std::string::npos) << r.out;
  std::vector<std::string> back = sshd->ssh_args();
  back.push_back("[::1]:" + dst);
  back.push_back(dir.file("back.img"));
  CommandResult p = sshd->run(back);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(first_difference(src, dir.file("back.img")), std::nullopt);
}

}  // namespace
}  // namespace sparsync::testing
