// ssh config lookups (transport/ssh_config_lookup.h) for the settings libssh
// drops: first value wins, Host patterns with negation, Match, Include.
#include "transport/ssh_config_lookup.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/files.h"

namespace sparsync {
namespace {

using testing::TempDir;

TEST(SshConfigLookup, FirstMatchingHostBlockWins) {
  TempDir dir;
  std::string cfg = dir.file("config");
  std::ofstream(cfg) << "# comment\nHost dr-* !dr-lab\n  StrictHostKeyChecking=accept-new\n"
                        "Host *\n  stricthostkeychecking \"yes\" # trailing\n";
  EXPECT_EQ(ssh_config_value(cfg, "dr-east", "StrictHostKeyChecking"), "accept-new");
  EXPECT_EQ(ssh_config_value(cfg, "dr-lab", "StrictHostKeyChecking"), "yes");
  EXPECT_EQ(ssh_config_value(cfg, "other", "StrictHostKeyChecking"), "yes");
  EXPECT_EQ(ssh_config_value(cfg, "other", "ProxyJump"), std::nullopt);
}

TEST(SshConfigLookup, MatchAllAndHostApplyOtherMatchesDoNot) {
  TempDir dir;
  std::string cfg = dir.file("config");
  std::ofstream(cfg) << "Match user root\n  StrictHostKeyChecking no\nMatch host a,b\n"
                        "  StrictHostKeyChecking accept-new\nMatch all\n  StrictHostKeyChecking ask\n";
  EXPECT_EQ(ssh_config_value(cfg, "b", "StrictHostKeyChecking"), "accept-new");
  EXPECT_EQ(ssh_config_value(cfg, "c", "StrictHostKeyChecking"), "ask");
}

TEST(SshConfigLookup, IncludedFilesAreReadInPlace) {
  TempDir dir;
  std::string cfg = dir.file("config");
  std::ofstream(dir.file("site.conf")) << "Host dr\n  StrictHostKeyChecking accept-new\n";
  std::ofstream(cfg) << "Include " << dir.file("*.conf") << "\nHost *\n  StrictHostKeyChecking yes\n";
  EXPECT_EQ(ssh_config_value(cfg, "dr", "StrictHostKeyChecking"), "accept-new");
  EXPECT_EQ(ssh_config_value(cfg, "x", "StrictHostKeyChecking"), "yes");
}

TEST(SshConfigLookup, IdentityFilesAddUpInOrder) {
  TempDir dir;
  std::string cfg = dir.file("config");
  std::ofstream(cfg) << "Host dr\n  IdentityFile ~/.ssh/dr_key\nHost *\n  IdentityFile /keys/all\n";
  EXPECT_EQ(ssh_config_values(cfg, "dr", "IdentityFile"), (std::vector<std::string>{"~/.ssh/dr_key", "/keys/all"}));
  EXPECT_EQ(ssh_config_values(cfg, "x", "identityfile"), (std::vector<std::string>{"/keys/all"}));
}

TEST(SshConfigLookup, PatternsAsSshMatchesThem) {
  EXPECT_TRUE(ssh_pattern_match("*", "anything"));
  EXPECT_TRUE(ssh_pattern_match("10.0.?.*", "10.0.1.25"));
  EXPECT_TRUE(ssh_pattern_match("*.Example.com", "db.example.COM"));
  EXPECT_FALSE(ssh_pattern_match("*.example.com", "example.com"));
  EXPECT_FALSE(ssh_pattern_match("dr?", "dr"));
}

}  // namespace
}  // namespace sparsync
