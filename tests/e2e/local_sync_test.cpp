// End-to-end local syncs: the built sparsync binary, both paths on this host
// (the server runs as a child over pipes). Each test checks the exit code,
// the bytes of the target, its sparseness and the summary's figures.
#include <gtest/gtest.h>

#include <filesystem>

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

// Slack for filesystem metadata blocks when comparing allocations.
constexpr uint64_t kSlack = 64 * kKiB;

class LocalSync : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::supports_holes(dir_.path())) {
      GTEST_SKIP() << "the filesystem of " << dir_.path() << " does not report holes (SEEK_DATA)";
    }
  }

  // Runs a sync that must succeed, and returns its parsed summary.
  testing::Summary sync_ok(const std::string& src, const std::string& dst,
                           std::vector<std::string> extra = {"-b", "64K"}) {
    std::vector<std::string> args = extra;
    args.push_back(src);
    args.push_back(dst);
    CommandResult r = testing::run_sparsync(args);
    EXPECT_EQ(r.exit_code, 0) << "stderr: " << r.err;
    auto s = testing::parse_summary(r.out);
    EXPECT_TRUE(s.has_value()) << "no summary in stdout: " << r.out;
    return s.value_or(testing::Summary{});
  }

  void expect_identical_and_sparse(const std::string& src, const std::string& dst) {
    auto diff = testing::first_difference(src, dst);
    EXPECT_FALSE(diff.has_value()) << "target differs at byte " << *diff;
    EXPECT_LE(testing::allocated_bytes(dst), testing::allocated_bytes(src) + kSlack)
        << "target is not sparse: " << testing::allocated_bytes(dst) << " bytes allocated, source "
        << testing::allocated_bytes(src);
  }

  TempDir dir_;
};

TEST_F(LocalSync, FirstCloneThenIncrementalChanges) {
  SparseImage src(dir_.file("src.img"), 64 * kMiB);
  src.data(0, 256 * kKiB, 1).data(10 * kMiB, 512 * kKiB, 2).data(40 * kMiB, 256 * kKiB, 3);
  const std::string dst = dir_.file("dst.img");

  auto s = sync_ok(src.path(), dst);
  expect_identical_and_sparse(src.path(), dst);
  EXPECT_FALSE(s.dry_run);
  EXPECT_EQ(s.scanned, "64.0 MiB");
  EXPECT_EQ(s.data, "1.00 MiB");
  EXPECT_EQ(s.holes, "0 B");
  EXPECT_EQ(s.changed, 16u);
  EXPECT_EQ(s.unchanged, 1024u - 16u);
  EXPECT_EQ(s.source, src.path());
  EXPECT_EQ(s.target, dst);

  // Unchanged: nothing moves.
  s = sync_ok(src.path(), dst);
  EXPECT_EQ(s.data, "0 B");
  EXPECT_EQ(s.holes, "0 B");
  EXPECT_EQ(s.changed, 0u);
  EXPECT_EQ(s.unchanged, 1024u);

  // One byte written into a hole: one 64 KiB block.
  src.bytes(20 * kMiB + 12345, {0x42});
  s = sync_ok(src.path(), dst);
  expect_identical_and_sparse(src.path(), dst);
  EXPECT_EQ(s.data, "64.0 KiB");
  EXPECT_EQ(s.changed, 1u);

  // A large change: 4 MiB rewritten (half over data, half over holes).
  src.data(40 * kMiB - 2 * kMiB, 4 * kMiB, 9);
  s = sync_ok(src.path(), dst);
  expect_identical_and_sparse(src.path(), dst);
  EXPECT_EQ(s.data, "4.00 MiB");
  EXPECT_EQ(s.holes, "0 B");
  EXPECT_EQ(s.changed, 64u);

  // Data punched out of the source: the target gets a hole and frees space.
  const uint64_t before = testing::allocated_bytes(dst);
  src.hole(10 * kMiB, 512 * kKiB);
  s = sync_ok(src.path(), dst);
  expect_identical_and_sparse(src.path(), dst);
  EXPECT_EQ(s.data, "0 B");
  EXPECT_EQ(s.holes, "512 KiB");
  EXPECT_EQ(s.changed, 8u);
  EXPECT_LE(testing::allocated_bytes(dst) + 512 * kKiB, before);
}

TEST_F(LocalSync, WrittenZerosBecomeHolesOnTheTarget) {
  SparseImage src(dir_.file("src.img"), 8 * kMiB);
  src.data(0, kMiB).zeros(kMiB, 4 * kMiB).data(5 * kMiB, kMiB);
  const std::string dst = dir_.file("dst.img");
  auto s = sync_ok(src.path(), dst);
  EXPECT_FALSE(testing::first_difference(src.path(), dst).has_value());
  EXPECT_EQ(s.data, "2.00 MiB");
  EXPECT_LE(testing::allocated_bytes(dst), 2 * kMiB + kSlack);
}

TEST_F(LocalSync, UnalignedTail) {
  const uint64_t size = 5 * kMiB + 777;
  SparseImage src(dir_.file("src.img"), size);
  src.data(0, size, 4);
  const std::string dst = dir_.file("dst.img");
  auto s = sync_ok(src.path(), dst);
  expect_identical_and_sparse(src.path(), dst);
  EXPECT_EQ(testing::file_size(dst), size);
  EXPECT_EQ(s.changed, 81u);
  // Only the 777-byte last block changes.
  src.bytes(size - 1, {0});
  s = sync_ok(src.path(), dst);
  EXPECT_FALSE(testing::first_difference(src.path(), dst).has_value());
  EXPECT_EQ(s.data, "777 B");
  EXPECT_EQ(s.changed, 1u);
  EXPECT_EQ(s.unchanged, 80u);
}

TEST_F(LocalSync, EmptySource) {
  SparseImage src(dir_.file("src.img"), 0);
  const std::string dst = dir_.file("dst.img");
  auto s = sync_ok(src.path(), dst);
  ASSERT_TRUE(testing::exists(dst));
  EXPECT_EQ(testing::file_size(dst), 0u);
  EXPECT_EQ(s.scanned, "0 B");
  EXPECT_EQ(s.data, "0 B");
  // And onto an existing non-empty target: truncated to nothing.
  testing::write_all(dst, testing::pattern_bytes(1, 0, 10000));
  s = sync_ok(src.path(), dst);
  EXPECT_EQ(testing::file_size(dst), 0u);
}

TEST_F(LocalSync, SmallBlockSizeAndOddSize) {
  const uint64_t size = 3 * kMiB + 4097;
  SparseImage src(dir_.file("src.img"), size);
  src.data(0, kMiB, 5).data(2 * kMiB, kMiB + 4097, 6);
  const std::string dst = dir_.file("dst.img");
  auto s = sync_ok(src.path(), dst, {"-b", "4K"});
  expect_identical_and_sparse(src.path(), dst);
  EXPECT_EQ(s.changed, 256u + 258u);
  src.bytes(kMiB / 2, {0});
  src.bytes(size - 1, {0});  // the 1-byte last block becomes zero: a hole
  s = sync_ok(src.path(), dst, {"-b", "4K"});
  EXPECT_FALSE(testing::first_difference(src.path(), dst).has_value());
  EXPECT_EQ(s.data, "4.00 KiB");
  EXPECT_EQ(s.holes, "1 B");
  EXPECT_EQ(s.changed, 2u);
}

TEST_F(LocalSync, Sha256Checksum) {
  SparseImage src(dir_.file("src.img"), 16 * kMiB);
  src.data(0, 16 * kMiB, 7);
  const std::string dst = dir_.file("dst.img");
  sync_ok(src.path(), dst, {"--checksum", "sha256", "-b", "64K"});
  src.bytes(8 * kMiB, {0});
  auto s = sync_ok(src.path(), dst, {"--checksum", "sha256", "-b", "64K"});
  EXPECT_FALSE(testing::first_difference(src.path(), dst).has_value());
  EXPECT_EQ(s.data, "64.0 KiB");
  EXPECT_EQ(s.changed, 1u);
}

TEST_F(LocalSync, DryRunWritesNothingAndReportsTheDifference) {
  SparseImage src(dir_.file("src.img"), 8 * kMiB);
  src.data(0, 8 * kMiB, 1);
  SparseImage dst(dir_.file("dst.img"), 8 * kMiB);
  dst.data(0, 8 * kMiB, 1).data(kMiB, 128 * kKiB, 2).hole(4 * kMiB, 64 * kKiB);
  const auto before = testing::read_all(dst.path());
  const int64_t mtime = testing::mtime_ns(dst.path());
  auto s = sync_ok(src.path(), dst.path(), {"-n", "-b", "64K"});
  EXPECT_TRUE(s.dry_run);
  EXPECT_EQ(s.data, "192 KiB");
  EXPECT_EQ(s.changed, 3u);
  EXPECT_TRUE(testing::read_all(dst.path()) == before);
  EXPECT_EQ(testing::mtime_ns(dst.path()), mtime);

  // A larger target is not truncated by a dry run.
  SparseImage big(dir_.file("big.img"), 12 * kMiB);
  big.data(0, 12 * kMiB, 1);
  s = sync_ok(src.path(), big.path(), {"--dry-run", "-b", "64K"});
  EXPECT_EQ(testing::file_size(big.path()), 12 * kMiB);
  EXPECT_EQ(s.data, "0 B");

  // A missing target is not created, and everything is reported.
  const std::string missing = dir_.file("missing.img");
  s = sync_ok(src.path(), missing, {"--dry-run", "-b", "64K"});
  EXPECT_FALSE(testing::exists(missing));
  EXPECT_EQ(s.data, "8.00 MiB");
  // Nothing else appeared in the directory (no checkpoint or temp files).
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 3u);
}

TEST_F(LocalSync, LargerTargetFileIsTruncated) {
  SparseImage src(dir_.file("src.img"), 4 * kMiB);
  src.data(0, 4 * kMiB, 1);
  SparseImage dst(dir_.file("dst.img"), 10 * kMiB);
  dst.data(0, 10 * kMiB, 1);
  auto s = sync_ok(src.path(), dst.path());
  EXPECT_EQ(testing::file_size(dst.path()), 4 * kMiB);
  EXPECT_FALSE(testing::first_difference(src.path(), dst.path()).has_value());
  EXPECT_EQ(s.data, "0 B");
}

TEST_F(LocalSync, SmallerTargetFileIsGrown) {
  SparseImage src(dir_.file("src.img"), 4 * kMiB);
  src.data(0, 4 * kMiB, 1);
  SparseImage dst(dir_.file("dst.img"), kMiB);
  dst.data(0, kMiB, 1);
  auto s = sync_ok(src.path(), dst.path());
  EXPECT_FALSE(testing::first_difference(src.path(), dst.path()).has_value());
  EXPECT_EQ(s.data, "3.00 MiB");
}

TEST_F(LocalSync, QuietPrintsNothing) {
  SparseImage src(dir_.file("src.img"), kMiB);
  src.data(0, kMiB);
  CommandResult r = testing::run_sparsync({"-q", src.path(), dir_.file("dst.img")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(testing::first_difference(src.path(), dir_.file("dst.img")).has_value());
}

// --- errors: exit code and one line on stderr ---------------------------------

// The brief and PRODUCT.md: a failure ends with one line that says what and
// where. Returns the lines other than the one expected.
std::vector<std::string> extra_lines(const CommandResult& r, const std::string& needle) {
  std::vector<std::string> extra;
  bool found = false;
  for (const auto& l : r.err_lines()) {
    if (!found && l.find(needle) != std::string::npos) {
      found = true;
    } else {
      extra.push_back(l);
    }
  }
  if (!found) extra.push_back("(no line naming " + needle + ")");
  return extra;
}

TEST_F(LocalSync, MissingSourceIsExit3WithOneLineNamingIt) {
  const std::string missing = dir_.file("no-such.img");
  CommandResult r = testing::run_sparsync({missing, dir_.file("dst.img")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("cannot open " + missing), std::string::npos) << r.err;
  EXPECT_FALSE(testing::exists(dir_.file("dst.img")));
  auto extra = extra_lines(r, missing);
  EXPECT_TRUE(extra.empty()) << "stderr: " << r.err;
}

TEST_F(LocalSync, SourceDirectoryIsExit3) {
  CommandResult r = testing::run_sparsync({dir_.path(), dir_.file("dst.img")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find(dir_.path() + " is a directory"), std::string::npos) << r.err;
  auto extra = extra_lines(r, "is a directory");
  EXPECT_TRUE(extra.empty()) << "stderr: " << r.err;
}

TEST_F(LocalSync, MissingTargetDirectoryIsExit4) {
  SparseImage src(dir_.file("src.img"), kMiB);
  const std::string dst = dir_.file("no/such/dir/dst.img");
  CommandResult r = testing::run_sparsync({src.path(), dst});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_TRUE(extra_lines(r, dst).empty()) << r.err;
}

TEST_F(LocalSync, TargetIsADirectoryIsExit4) {
  SparseImage src(dir_.file("src.img"), kMiB);
  CommandResult r = testing::run_sparsync({src.path(), dir_.path()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_TRUE(extra_lines(r, dir_.path()).empty()) << r.err;
}

TEST_F(LocalSync, BadBlockSizeIsExit2) {
  SparseImage src(dir_.file("src.img"), kMiB);
  for (const char* bs : {"3K", "2K", "8M", "abc", "0", "65537"}) {
    CommandResult r = testing::run_sparsync({"-b", bs, src.path(), dir_.file("dst.img")});
    EXPECT_EQ(r.exit_code, 2) << bs << ": " << r.err;
    EXPECT_NE(r.err.find("block-size"), std::string::npos) << r.err;
    EXPECT_FALSE(testing::exists(dir_.file("dst.img"))) << bs;
  }
}

TEST_F(LocalSync, UsageErrorsAreExit2) {
  EXPECT_EQ(testing::run_sparsync({}).exit_code, 2);
  EXPECT_EQ(testing::run_sparsync({dir_.file("only-one")}).exit_code, 2);
  EXPECT_EQ(testing::run_sparsync({"--checksum", "md5", "a", "b"}).exit_code, 2);
  EXPECT_EQ(testing::run_sparsync({"--no-such-option", "a", "b"}).exit_code, 2);
}

TEST_F(LocalSync, VersionPrintsProtocol) {
  CommandResult r = testing::run_sparsync({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("protocol 1"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sparsync
