// Transfer options over a real sshd: in a pull the far side is the source, so
// --compress and --bwlimit must travel in OPEN and be honoured there.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/files.h"
#include "support/sizes.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

std::vector<uint8_t> text(uint64_t len) {
  std::vector<uint8_t> bytes(len);
  const std::string line = "pulled over ssh, compressed on the far side; ";
  for (uint64_t i = 0; i < len; ++i) bytes[i] = static_cast<uint8_t>(line[i % line.size()] + (i / 4096) % 5);
  return bytes;
}

class SshTransfer : public SshdTest {
 protected:
  nlohmann::json pull(const std::string& src, const std::string& dst, std::vector<std::string> extra) {
    std::vector<std::string> args = sshd_->ssh_args();
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("--json");
    args.push_back(SshdFixture::remote(src));
    args.push_back(dst);
    CommandResult r = sshd_->run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  TempDir dir_;
};

TEST_F(SshTransfer, PullWithCompressReceivesFewerBytes) {
  const std::string src = dir_.file("text.img");
  SparseImage(src, 16 * kMiB).bytes(kMiB, text(8 * kMiB));
  auto j = pull(src, dir_.file("z.img"), {"--compress"});
  EXPECT_EQ(first_difference(src, dir_.file("z.img")), std::nullopt);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["data_bytes"].get<uint64_t>(), 8 * kMiB);
  // In a pull this side receives the DATA: the far source compressed it.
  EXPECT_LT(j["wire_bytes_in"].get<uint64_t>(), 2 * kMiB) << j.dump();
}

TEST_F(SshTransfer, PullWithBwlimitCopiesExactly) {
  const std::string src = dir_.file("src.img");
  SparseImage(src, 8 * kMiB).data(0, 2 * kMiB, 9);
  auto j = pull(src, dir_.file("b.img"), {"--bwlimit", "64M"});
  EXPECT_EQ(first_difference(src, dir_.file("b.img")), std::nullopt);
  EXPECT_EQ(j["data_bytes"].get<uint64_t>(), 2 * kMiB);
}

}  // namespace
}  // namespace sparsync::testing
