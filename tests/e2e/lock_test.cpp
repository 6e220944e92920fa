// End-to-end: two runs onto the same target never interleave. While one run
// writes a target (slowed with --bwlimit so it is certainly still running),
// a second run onto it fails at once with exit 4, naming who holds the lock;
// the first run then completes byte-identical.
#include <gtest/gtest.h>

#include "support/command.h"
#include "support/files.h"
#include "support/process.h"
#include "support/sizes.h"

namespace sparsync::testing {
namespace {

TEST(Lock, SecondRunOntoALockedTargetFailsAtOnceNamingTheHolder) {
  TempDir dir;
  const std::string src = dir.file("src.img");
  const std::string other = dir.file("other.img");
  const std::string dst = dir.file("dst.img");
  SparseImage(src, 16 * kMiB).data(0, 8 * kMiB, 1);
  SparseImage(other, 16 * kMiB).data(0, kMiB, 2);
  // 8 MiB at 2 MiB/s: about four seconds of holding the lock.
  auto first = Process::start({SPARSYNC_BINARY, "--bwlimit", "2M", src, dst});
  ASSERT_TRUE(first);
  // The target exists (and is locked: it is created locked) once its first
  // DATA has landed.
  ASSERT_TRUE(wait_until([&] { return exists(dst) && allocated_bytes(dst) > 0; }, 20)) << first->stderr_so_far();
  ASSERT_TRUE(first->running());

  CommandResult second = run_sparsync({other, dst});
  EXPECT_EQ(second.exit_code, 4) << second.err;
  EXPECT_NE(second.err.find("is being written by another sparsync run (pid "), std::string::npos) << second.err;
  EXPECT_EQ(second.err_lines().size(), 1u) << "one line, no command line pasted in: " << second.err;
  // "At once": the first run (about four seconds long) is still going. Had
  // the second waited for the lock, it would have got it and succeeded.
  ASSERT_TRUE(first->running()) << "the first run must outlast the second";

  auto done = first->wait(60);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->exit_code, 0) << done->err;
  EXPECT_EQ(first_difference(src, dst), std::nullopt);
}

}  // namespace
}  // namespace sparsync::testing
