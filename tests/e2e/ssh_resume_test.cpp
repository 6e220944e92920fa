// Resume over a real sshd (tests/support/sshd_fixture.h) with the TCP link
// cut mid-run by a relay (tests/support/tcp_relay.h), in push and in pull:
// with retries the same run reconnects and finishes byte-identical from the
// checkpoint; with --retries 0 it exits 5 and a rerun resumes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/checkpoint_store.h"
#include "support/files.h"
#include "support/sizes.h"
#include "support/sshd_test.h"
#include "support/tcp_relay.h"

namespace sparsync::testing {
namespace {

constexpr uint64_t kSize = 128 * kMiB;
constexpr uint64_t kCutAt = 64 * kMiB;  // wire bytes of the data direction
constexpr uint64_t kInterval = 8 * kMiB;
// Wire bytes that can be past the relay but not yet applied on the target
// when the link drops: the SSH channel window (OpenSSH and libssh keep it at
// a few MiB), the pipe or socketpair to the session (<= 1 MiB), the
// target's queue of 16 DATA frames of 1 MiB plus the one being applied, and
// the SSH framing overhead (packet headers, MACs: well under 1%). A push
// over lanes (PROTOCOL.md §4.15) has a window and socket buffers per lane,
// but the relay's cut stops them all at once; measured lags of 16 and 24 MiB
// with one interval of 8 MiB. 40 MiB covers them with room; add one
// checkpoint interval for the record's lag. The lanes are fixed at 4:
// chosen by the round trip, which load stretches, a push could take 16 and
// hold ~2.7 MiB in flight on each.
constexpr uint64_t kInFlight = 40 * kMiB;

class SshResume : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(false);
    if (IsSkipped()) return;
    relay_ = std::make_unique<TcpRelay>(sshd_->port());
    ASSERT_GT(relay_->port(), 0);
    // The host key as seen through the relay's port.
    std::string line = sshd_->host_key_line();
    known_hosts_ = dir_.file("known_hosts");
    std::ofstream(known_hosts_) << "[127.0.0.1]:" << relay_->port() << line.substr(line.find(' '));
    src_ = dir_.file("src.img");
    SparseImage(src_, kSize).data(0, kSize, 21);
  }
  // Runs sparsync through the relay.
  CommandResult sync(const std::string& from, const std::string& to, std::vector<std::string> extra) {
    std::vector<std::string> args = sshd_->ssh_args();
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "-p") args[i + 1] = std::to_string(relay_->port());
      if (args[i] == "--known-hosts") args[i + 1] = known_hosts_;
    }
    for (const char* a : {"--json", "--checkpoint-interval", "8M", "--checkpoint-seconds", "1000", "--lanes", "4"}) {
      args.push_back(a);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(from);
    args.push_back(to);
    return sshd_->run(args);
  }
  nlohmann::json json_of(const CommandResult& r) {
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out << "\n" << r.err;
    return j;
  }
  void expect_identical(const std::string& dst) {
    EXPECT_EQ(first_difference(src_, dst), std::nullopt);
    EXPECT_FALSE(exists(checkpoint_path(dst, false)));
  }
  // The cut happened after `wire` data bytes; the resume point lags by at
  // most the in-flight bytes and one interval.
  void expect_resume_bound(uint64_t resumed, uint64_t wire) {
    // For tuning the bound: in the XML report (--gtest_output=xml).
    RecordProperty("wire_bytes_at_cut", std::to_string(wire));
    RecordProperty("resumed_from", std::to_string(resumed));
    EXPECT_GT(resumed, 0u);
    EXPECT_LE(resumed, wire) << "a checkpoint cannot be ahead of what crossed the link";
    EXPECT_GE(resumed + kInterval + kInFlight, wire) << "resumed at " << resumed;
  }
  void cut_with_retry(bool pull) {
    std::string dst = dir_.file(pull ? "pulled.img" : "pushed.img");
    relay_->cut_after(pull ? 0 : kCutAt, pull ? kCutAt : 0);
    CommandResult r = pull ? sync(SshdFixture::remote(src_), dst, {"--retry-wait", "0.2"})
                           : sync(src_, SshdFixture::remote(dst), {"--retry-wait", "0.2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(relay_->cuts(), 1);
    EXPECT_EQ(relay_->connections(), 2) << "one reconnection";
    expect_identical(dst);
    auto j = json_of(r);
    uint64_t resumed = j["resumed_from"];
    expect_resume_bound(resumed, pull ? relay_->reverse_at_cut() : relay_->forward_at_cut());
    EXPECT_EQ(j["bytes_scanned"].get<uint64_t>(), kSize - resumed);
    EXPECT_LE(j["data_bytes"].get<uint64_t>(), kSize - resumed);
  }
  void cut_without_retry(bool pull) {
    std::string dst = dir_.file(pull ? "pulled.img" : "pushed.img");
    relay_->cut_after(pull ? 0 : kCutAt, pull ? kCutAt : 0);
    CommandResult r = pull ? sync(SshdFixture::remote(src_), dst, {"--retries", "0"})
                           : sync(src_, SshdFixture::remote(dst), {"--retries", "0"});
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_EQ(relay_->cuts(), 1);
    auto failed = json_of(r);
    EXPECT_FALSE(failed["ok"].get<bool>());
    EXPECT_EQ(failed["exit_code"].get<int>(), 5);
    uint64_t wire = pull ? relay_->reverse_at_cut() : relay_->forward_at_cut();
    // In a pull the target is here: its record can be read directly. In a
    // push the far server may still be finishing its queue; ask --status
    // once its record settles, through the rerun instead.
    CommandResult again = pull ? sync(SshdFixture::remote(src_), dst, {}) : sync(src_, SshdFixture::remote(dst), {});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    expect_identical(dst);
    auto j = json_of(again);
    uint64_t resumed = j["resumed_from"];
    expect_resume_bound(resumed, wire);
    EXPECT_EQ(j["bytes_scanned"].get<uint64_t>(), kSize - resumed);
    EXPECT_LE(j["data_bytes"].get<uint64_t>(), kSize - resumed);
  }

  TempDir dir_;
  std::unique_ptr<TcpRelay> relay_;
  std::string known_hosts_, src_;
};

TEST_F(SshResume, PushLinkCutRetriesAndResumes) { cut_with_retry(false); }
TEST_F(SshResume, PullLinkCutRetriesAndResumes) { cut_with_retry(true); }
TEST_F(SshResume, PushLinkCutWithoutRetriesExits5AndRerunResumes) { cut_without_retry(false); }
TEST_F(SshResume, PullLinkCutWithoutRetriesExits5AndRerunResumes) { cut_without_retry(true); }

}  // namespace
}  // namespace sparsync::testing
