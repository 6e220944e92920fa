// Pure pieces of the SSH transport: quoting the far command's words for a
// POSIX shell, and mapping the far command's exit status to an error kind.
#include <gtest/gtest.h>

#include "transport/ssh_connection.h"
#include "transport/ssh_transport.h"

namespace sparsync {
namespace {

TEST(ShellQuote, WrapsInSingleQuotes) {
  EXPECT_EQ(shell_quote("sparsync"), "'sparsync'");
  EXPECT_EQ(shell_quote("/opt/my tools/sparsync"), "'/opt/my tools/sparsync'");
  EXPECT_EQ(shell_quote("$(rm -rf /)*;`x`"), "'$(rm -rf /)*;`x`'");
  EXPECT_EQ(shell_quote(""), "''");
}

TEST(ShellQuote, EscapesSingleQuotes) { EXPECT_EQ(shell_quote("it's"), "'it'\\''s'"); }

TEST(ShellQuote, KeepsTildeSlashForTheFarShell) {
  EXPECT_EQ(shell_quote("~/bin/sparsync"), "~/'bin/sparsync'");
  EXPECT_EQ(shell_quote("~user/x"), "'~user/x'");
}

TEST(RemoteExitStatus, MapsSparsyncCodesAndShellCodes) {
  EXPECT_TRUE(remote_exit_status(0, "h", "x").is_ok());
  EXPECT_EQ(remote_exit_status(4, "h", "x").kind(), ErrorKind::kTarget);
  EXPECT_EQ(remote_exit_status(6, "h", "x").kind(), ErrorKind::kProtocol);
  EXPECT_EQ(remote_exit_status(8, "h", "x").kind(), ErrorKind::kInterrupted);
  Status missing = remote_exit_status(127, "h", "x");
  EXPECT_EQ(missing.kind(), ErrorKind::kConnection);
  EXPECT_NE(missing.message().find("command not found"), std::string::npos);
  EXPECT_EQ(remote_exit_status(126, "h", "x").kind(), ErrorKind::kConnection);
  EXPECT_EQ(remote_exit_status(-1, "h", "x").kind(), ErrorKind::kConnection);
  EXPECT_EQ(remote_exit_status(42, "h", "x").kind(), ErrorKind::kConnection);
}

}  // namespace
}  // namespace sparsync
