// Lanes over a real sshd (PROTOCOL.md §4.15): a push spreads its stream over
// several direct-streamlocal channels, and falls back to one channel when
// the far sshd refuses them, with the same bytes on the target either way.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <regex>

#include "app/sync_request.h"
#include "support/files.h"
#include "support/sizes.h"
#include "support/sshd_test.h"
#include "transport/lane_count.h"

namespace sparsync::testing {
namespace {

void write_range(const std::string& path, uint64_t offset, const std::vector<uint8_t>& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

class SshLanes : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    src_ = dir_.file("src.img");
    // Data, a hole and data again, enough for many segments on every lane.
    SparseImage(src_, 48 * kMiB).data(0, 20 * kMiB, 3).data(30 * kMiB, 18 * kMiB - 4096, 4);
  }
  CommandResult push(const std::string& dst, std::vector<std::string> extra) {
    std::vector<std::string> args = sshd_->ssh_args();
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("-v");
    args.push_back("--json");
    args.push_back(src_);
    args.push_back(SshdFixture::remote(dst));
    return sshd_->run(args);
  }
  TempDir dir_;
  std::string src_;
};

TEST_F(SshLanes, PushOverLanesIsByteIdenticalFirstAndIncremental) {
  const std::string dst = dir_.file("dst.img");
  CommandResult r = push(dst, {"--lanes", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sending over 4 lanes"), std::string::npos) << r.err;
  EXPECT_EQ(first_difference(src_, dst), std::nullopt);

  // Scattered changes: small DATA frames and HOLEs spread over the lanes.
  // (SparseImage would recreate the file; change it in place.)
  write_range(src_, 5 * kMiB, std::vector<uint8_t>(4096, 7));
  write_range(src_, 33 * kMiB + 8192, std::vector<uint8_t>(3 * 4096, 8));
  write_range(src_, 40 * kMiB, std::vector<uint8_t>(kMiB, 0));
  r = push(dst, {"--lanes", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sending over 4 lanes"), std::string::npos) << r.err;
  EXPECT_EQ(first_difference(src_, dst), std::nullopt);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["data_bytes"].get<uint64_t>(), 4 * 4096u);
  EXPECT_EQ(j["hole_bytes"].get<uint64_t>(), kMiB);
}

TEST_F(SshLanes, OneLaneKeepsTheMainChannel) {
  const std::string dst = dir_.file("one.img");
  CommandResult r = push(dst, {"--lanes", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("sending over"), std::string::npos) << r.err;
  EXPECT_EQ(first_difference(src_, dst), std::nullopt);
}

TEST_F(SshLanes, ByDefaultTheRoundTripDecides) {
  // On an idle loopback OPEN to OPEN_OK takes about 1 ms: no lanes. Under a
  // loaded test run it can take a few ms more, so the check is that what was
  // chosen is what the measured round trip calls for (lane_count.h).
  const std::string dst = dir_.file("auto.img");
  CommandResult r = push(dst, {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src_, dst), std::nullopt);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("round trip ([0-9.]+) ms: (.*)"))) << r.err;
  double ms = std::stod(m[1].str());
  // The message rounds to 0.1 ms: the choice must fit a round trip within that.
  uint16_t fewest = lanes_for_round_trip((ms - 0.05) / 1000, kAutoLanesMost);
  uint16_t most = lanes_for_round_trip((ms + 0.05) / 1000, kAutoLanesMost);
  std::smatch n;
  uint16_t chosen = 0;
  if (std::regex_search(r.err, n, std::regex("sending over ([0-9]+) lanes"))) {
    chosen = static_cast<uint16_t>(std::stoi(n[1].str()));
  } else {
    EXPECT_NE(r.err.find("one channel keeps up; no lanes"), std::string::npos) << r.err;
  }
  EXPECT_GE(chosen, fewest) << r.err;
  EXPECT_LE(chosen, most) << r.err;
}

TEST_F(SshLanes, RestrictedKeyFallsBackToOneChannel) {
  // `restrict` in authorized_keys forbids forwarding, lanes included.
  sshd_->force_command(std::string(SPARSYNC_BINARY) + " --server");
  const std::string dst = dir_.file("restricted.img");
  CommandResult r = push(dst, {"--lanes", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("using one channel"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("sending over"), std::string::npos) << r.err;
  EXPECT_EQ(first_difference(src_, dst), std::nullopt);
}

}  // namespace
}  // namespace sparsync::testing
