// SshdTest: the base of the end-to-end tests that need a real sshd. SetUp
// starts one (support/sshd_fixture.h), skipping the test with the reason
// where sshd cannot run here, and trusts its host key. A fixture whose SetUp
// does more calls start_sshd() first and returns if IsSkipped().
// Thread-safety: none; one fixture per test.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/sshd_fixture.h"

namespace sparsync::testing {

class SshdTest : public ::testing::Test {
 protected:
  void SetUp() override { start_sshd(true); }

  // `trust_host_key` false: the test writes known_hosts itself (host-key
  // tests, or a relay on another port).
  void start_sshd(bool trust_host_key) {
    std::string why;
    sshd_ = SshdFixture::start(&why);
    if (!sshd_) GTEST_SKIP() << "no sshd for this test: " << why;
    if (trust_host_key) sshd_->trust_host_key();
  }

  std::unique_ptr<SshdFixture> sshd_;
};

}  // namespace sparsync::testing
