// Jump host lists (transport/ssh_jump.h): ssh's -J spelling, and the ssh
// command libssh 0.10 makes of a config's ProxyJump, read back into the list
// so that command never runs.
#include "transport/ssh_jump.h"

#include <gtest/gtest.h>

namespace sparsync {
namespace {

TEST(JumpList, EntriesInTheOrderTheyAreReached) {
  Result<std::vector<JumpHost>> r = parse_jump_list("jump,admin@bastion:2222,[::1]:22,ops@[fe80::1]");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const std::vector<JumpHost>& hops = r.value();
  ASSERT_EQ(hops.size(), 4u);
  EXPECT_EQ(hops[0].host, "jump");
  EXPECT_EQ(hops[0].user, "");
  EXPECT_EQ(hops[0].port, 0);
  EXPECT_EQ(hops[1].spec, "admin@bastion:2222");
  EXPECT_EQ(hops[1].user, "admin");
  EXPECT_EQ(hops[1].host, "bastion");
  EXPECT_EQ(hops[1].port, 2222);
  EXPECT_EQ(hops[2].host, "::1");
  EXPECT_EQ(hops[2].port, 22);
  EXPECT_EQ(hops[3].user, "ops");
  EXPECT_EQ(hops[3].host, "fe80::1");
}

TEST(JumpList, NoneAndEmptyMeanNoJump) {
  EXPECT_TRUE(parse_jump_list("none").value().empty());
  EXPECT_TRUE(parse_jump_list("").value().empty());
}

TEST(JumpList, BadEntriesSayWhichAndHowToWriteThem) {
  for (const char* bad : {"jump:0", "jump:http", "@jump", "a,,b", "jump:", "::1", "[::1", "ju mp"}) {
    Result<std::vector<JumpHost>> r = parse_jump_list(bad);
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.status().kind(), ErrorKind::kUsage);
    EXPECT_NE(r.status().message().find("write it as [user@]host[:port]"), std::string::npos) << bad;
  }
}

TEST(JumpList, LibsshsProxyJumpCommandIsReadBack) {
  // As libssh 0.10.6's ssh_config_parse_proxy_jump writes them.
  std::string list;
  ASSERT_TRUE(jump_list_from_proxy_command("ssh -W '[%h]:%p' jump", &list));
  EXPECT_EQ(list, "jump");
  ASSERT_TRUE(jump_list_from_proxy_command("ssh -l admin -p 2222 -J b,c:22 -W '[%h]:%p' a", &list));
  EXPECT_EQ(list, "admin@a:2222,b,c:22");
  ASSERT_TRUE(jump_list_from_proxy_command("ssh -p 22 -W '[%h]:%p' ::1", &list));
  EXPECT_EQ(list, "[::1]:22");
}

TEST(JumpList, OtherProxyCommandsAreLeftToRun) {
  std::string list = "untouched";
  for (const char* command : {"nc %h %p", "ssh -W %h:%p jump", "ssh -o X=y -W '[%h]:%p' jump",
                              "ssh -W '[%h]:%p' jump extra", "ssh -W '[%h]:%p'", "/usr/bin/ssh -W '[%h]:%p' j"}) {
    EXPECT_FALSE(jump_list_from_proxy_command(command, &list)) << command;
  }
  EXPECT_EQ(list, "untouched");
}

}  // namespace
}  // namespace sparsync
