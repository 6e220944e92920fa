// End-to-end: SOURCE "-" reads the image from stdin (a pipe from cat, or a
// shell redirect from a file), so `xzcat disk.img.xz | sparsync - dst` works:
// zero runs become holes, an identical target receives no data, and input
// shorter or longer than --size is a source error (exit 3).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "support/command.h"
#include "support/files.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::CommandResult;
using testing::kKiB;
using testing::kMiB;
using testing::SparseImage;
using testing::TempDir;

constexpr uint64_t kMetadataSlack = 64 * kKiB;  // filesystem metadata blocks

std::string shell_quoted(const std::string& s) { return "'" + s + "'"; }

// `shell` is a /bin/sh command line in which $SPARSYNC names the binary.
CommandResult sh_with_sparsync(const std::string& shell) {
  return testing::run_command({"/bin/sh", "-c", "SPARSYNC=" + shell_quoted(SPARSYNC_BINARY) + "; " + shell});
}

class StdinSource : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::supports_holes(dir_.path())) {
      GTEST_SKIP() << "the filesystem of " << dir_.path() << " does not report holes (SEEK_DATA)";
    }
    // 16 MiB: data, a 10 MiB zero run (written as zeros, so only the planner
    // can turn it into a hole: a pipe has no SEEK_HOLE), data.
    SparseImage(src_, 16 * kMiB).data(0, kMiB, 1).zeros(kMiB, 10 * kMiB).data(11 * kMiB, 5 * kMiB, 2);
  }

  // cat SRC | sparsync ARGS - DST --size N
  CommandResult piped(const std::string& args, uint64_t size) {
    return sh_with_sparsync("cat " + shell_quoted(src_) + " | \"$SPARSYNC\" -b 64K " + args + " - " +
                            shell_quoted(dst_) + " --size " + std::to_string(size));
  }

  TempDir dir_;
  std::string src_ = dir_.file("src.img");
  std::string dst_ = dir_.file("dst.img");
};

TEST_F(StdinSource, PipeCreatesASparseTarget) {
  CommandResult r = piped("", 16 * kMiB);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(testing::first_difference(src_, dst_).has_value());
  EXPECT_LE(testing::allocated_bytes(dst_), 6 * kMiB + kMetadataSlack) << "the zero run was written, not left a hole";
  auto s = testing::parse_summary(r.out);
  ASSERT_TRUE(s) << r.out;
  EXPECT_EQ(s->source, "stdin");
  EXPECT_EQ(s->data, "6.00 MiB");
}

TEST_F(StdinSource, IdenticalTargetReceivesNoData) {
  ASSERT_EQ(piped("", 16 * kMiB).exit_code, 0);
  CommandResult r = piped("--json", 16 * kMiB);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["data_bytes"], 0u) << r.out;
  EXPECT_EQ(j["hole_bytes"], 0u) << r.out;
  EXPECT_EQ(j["changed_blocks"], 0u) << r.out;
  EXPECT_EQ(j["bytes_scanned"], 16 * kMiB) << r.out;
  EXPECT_EQ(j["source"], "stdin");
}

TEST_F(StdinSource, ChangedBlocksOnlyAreSent) {
  ASSERT_EQ(piped("", 16 * kMiB).exit_code, 0);
  // One 64K block changes, in place.
  int fd = ::open(src_.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  auto bytes = testing::pattern_bytes(7, 0, 64 * kKiB);
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 12 * kMiB), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  CommandResult r = piped("", 16 * kMiB);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(testing::first_difference(src_, dst_).has_value());
  auto s = testing::parse_summary(r.out);
  ASSERT_TRUE(s) << r.out;
  EXPECT_EQ(s->data, "64.0 KiB");
  EXPECT_EQ(s->changed, 1u);
}

TEST_F(StdinSource, PipeShorterThanSizeIsASourceError) {
  CommandResult r = piped("", 20 * kMiB);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("stdin ended after 16777216 bytes, before the 20971520 bytes given by --size"),
            std::string::npos)
      << r.err;
}

TEST_F(StdinSource, PipeLongerThanSizeIsASourceError) {
  CommandResult r = piped("", 8 * kMiB);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("stdin holds more than the 8388608 bytes given by --size"), std::string::npos) << r.err;
}

TEST_F(StdinSource, PipeWithoutSizeIsAUsageError) {
  CommandResult r = sh_with_sparsync("cat " + shell_quoted(src_) + " | \"$SPARSYNC\" - " + shell_quoted(dst_));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--size"), std::string::npos) << r.err;
  EXPECT_FALSE(testing::exists(dst_));
}

TEST_F(StdinSource, RedirectFromAFileNeedsNoSize) {
  CommandResult r = sh_with_sparsync("\"$SPARSYNC\" -b 64K - " + shell_quoted(dst_) + " < " + shell_quoted(src_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(testing::first_difference(src_, dst_).has_value());
  EXPECT_LE(testing::allocated_bytes(dst_), 6 * kMiB + kMetadataSlack);
}

TEST_F(StdinSource, StdinGoesWithNeitherVerifyNorARemoteSource) {
  CommandResult r = sh_with_sparsync("\"$SPARSYNC\" --verify - " + shell_quoted(dst_) + " < " + shell_quoted(src_));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--verify"), std::string::npos) << r.err;
  r = testing::run_sparsync({"somehost:-", dst_});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("stdin source (-) must be on this host"), std::string::npos) << r.err;
  r = testing::run_sparsync({"--size", "1M", src_, dst_});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST_F(StdinSource, RedirectFromTheTargetItselfIsRefused) {
  ASSERT_EQ(piped("", 16 * kMiB).exit_code, 0);
  CommandResult r = sh_with_sparsync("\"$SPARSYNC\" - " + shell_quoted(dst_) + " < " + shell_quoted(dst_));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("same file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sparsync
