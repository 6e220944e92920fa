// The tests' own bounds (support/command.h, support/process.h): a command
// that does not end, or leaves a child holding its output, and a started
// process that outlives its wait, are described and killed instead of
// holding the test until ctest's kill.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstdlib>

#include "support/command.h"
#include "support/process.h"

namespace sparsync::testing {
namespace {

class ShortCommandBound {
 public:
  ShortCommandBound() { ::setenv("SPARSYNC_TEST_COMMAND_SECONDS", "1", 1); }
  ~ShortCommandBound() { ::unsetenv("SPARSYNC_TEST_COMMAND_SECONDS"); }
};

TEST(RunCommand, AChildThatOutlivesTheCommandHoldingItsOutputIsDescribedAndKilled) {
  ShortCommandBound bound;
  const auto start = std::chrono::steady_clock::now();
  // The shell exits at once; its background sleep keeps stdout open.
  CommandResult r = run_command({"/bin/sh", "-c", "/bin/sleep 37 & echo $!"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_NE(r.err.find("did not end within 1 s"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/bin/sleep 37"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("wchan"), std::string::npos) << r.err;
  const pid_t sleeper = std::atoi(r.out.c_str());
  ASSERT_GT(sleeper, 0) << r.out;
  // Killed (then reaped by init, or a zombie until then): not sleeping on.
  EXPECT_TRUE(wait_until([&] { return !pid_alive(sleeper); }, 5)) << "the sleeper outlived the bound";
}

TEST(RunCommand, ACommandThatEndsInTimeIsUntouched) {
  ShortCommandBound bound;
  CommandResult r = run_command({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST(ProcessWait, AProcessThatOutlivesTheWaitIsDescribedThenKilled) {
  auto p = Process::start({"/bin/sleep", "37"});
  const pid_t pid = p->pid();
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(p->wait(0.2).has_value());
  const std::string said = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("did not end within 0.2 s"), std::string::npos) << said;
  EXPECT_NE(said.find("/bin/sleep 37"), std::string::npos) << said;
  EXPECT_FALSE(pid_alive(pid));
}

}  // namespace
}  // namespace sparsync::testing
