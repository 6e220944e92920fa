// run_program (common/run_program.h): a helper program's exit code, stdout
// and stderr; output past the cap dropped; a program past its bound killed;
// a program not on PATH a usage error naming its package; the first line
// escaped for the terminal.
#include <gtest/gtest.h>

#include <chrono>

#include "common/run_program.h"

namespace sparsync {
namespace {

ProgramLimits limits_of(int seconds, size_t max_out = 1 << 20) {
  ProgramLimits limits;
  limits.timeout_seconds = seconds;
  limits.max_stdout = max_out;
  return limits;
}

TEST(RunProgram, CollectsExitCodeAndBothOutputs) {
  auto run = run_program({"sh", "-c", "echo out; echo 'first err' >&2; echo more >&2; exit 3"}, limits_of(10),
                         ErrorKind::kSource, "none");
  ASSERT_TRUE(run.is_ok()) << run.status().message();
  EXPECT_EQ(run.value().exit_code, 3);
  EXPECT_FALSE(run.value().timed_out);
  EXPECT_EQ(run.value().out, "out\n");
  EXPECT_EQ(run.value().err, "first err\nmore\n");
  EXPECT_EQ(run.value().first_line(), "first err");
}

TEST(RunProgram, CapsTheOutputAndEscapesTheFirstLine) {
  auto run = run_program({"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; printf '\\033]0;title\\007\\n' >&2"},
                         limits_of(10, 1000), ErrorKind::kSource, "none");
  ASSERT_TRUE(run.is_ok()) << run.status().message();
  EXPECT_EQ(run.value().exit_code, 0);
  EXPECT_EQ(run.value().out, std::string(1000, 'x'));
  EXPECT_EQ(run.value().first_line(), "\\x1b]0;title\\x07");
}

TEST(RunProgram, KillsAProgramPastItsBound) {
  const auto start = std::chrono::steady_clock::now();
  auto run = run_program({"sleep", "30"}, limits_of(1), ErrorKind::kSource, "none");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(run.is_ok()) << run.status().message();
  EXPECT_TRUE(run.value().timed_out);
  EXPECT_EQ(run.value().exit_code, -1);
  EXPECT_LT(seconds, 5);
}

TEST(RunProgram, AProgramNotOnPathNamesItsPackage) {
  auto run = run_program({"sparsync-no-such-tool"}, limits_of(10), ErrorKind::kSource, "Debian: apt install x");
  ASSERT_FALSE(run.is_ok());
  EXPECT_EQ(run.status().kind(), ErrorKind::kUsage);
  EXPECT_EQ(run.status().message(), "sparsync-no-such-tool is not on PATH (Debian: apt install x)");
}

}  // namespace
}  // namespace sparsync
