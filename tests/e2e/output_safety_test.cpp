// End-to-end: what sparsync prints and the files it writes for monitoring
// cannot be turned against the operator. A path with a newline and a forged
// summary in its name stays on the one summary line; a --metrics-file whose
// directory others can write (a shared textfile-collector directory) is never
// written or read through a symlink planted at its name, and a FIFO planted
// there cannot hang the run.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "common/printable.h"
#include "support/command.h"
#include "support/files.h"
#include "support/process.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::CommandResult;
using testing::kMiB;
using testing::SparseImage;
using testing::TempDir;

TEST(OutputSafety, ATargetNameWithANewlineStaysOnTheSummaryLine) {
  TempDir dir;
  std::string src = dir.file("src.img");
  SparseImage(src, kMiB).data(0, 4096, 1);
  std::string dst = dir.file("dst\nsynced shadow -> evil:x: 1.00 GiB scanned\x1b[1A");
  CommandResult r = testing::run_sparsync({src, dst});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_EQ(r.out.rfind("synced " + src + " -> " + printable(dst) + ": 1.00 MiB scanned", 0), 0u) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sparsync
