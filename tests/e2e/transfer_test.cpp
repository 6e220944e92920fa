// End-to-end: transfer options. --compress must shrink compressible DATA on
// the wire (counted by the tool's own framing counters) and leave the target
// byte-identical; incompressible data must not cost extra wire bytes;
// --bwlimit must still produce an exact copy (its pace is a benchmark
// matter, not asserted here).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/command.h"
#include "support/files.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::CommandResult;
using testing::kMiB;
using testing::SparseImage;
using testing::TempDir;

nlohmann::json run_json(const std::vector<std::string>& args) {
  CommandResult r = testing::run_sparsync(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

// Text-like bytes: compressible, never all-zero per block.
std::vector<uint8_t> text(uint64_t len) {
  std::vector<uint8_t> bytes(len);
  const std::string line = "sparsync keeps a copy of a disk image in sync; line ";
  for (uint64_t i = 0; i < len; ++i) bytes[i] = static_cast<uint8_t>(line[i % line.size()] + (i / 4096) % 7);
  return bytes;
}

class Transfer : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(Transfer, CompressShrinksCompressibleDataOnTheWire) {
  const std::string src = dir_.file("text.img");
  SparseImage(src, 16 * kMiB).bytes(0, text(8 * kMiB));
  auto j = run_json({"--json", "--compress", src, dir_.file("dst.img")});
  EXPECT_FALSE(testing::first_difference(src, dir_.file("dst.img")).has_value());
  EXPECT_EQ(j["data_bytes"].get<uint64_t>(), 8 * kMiB);
  // The text compresses far below half; the wire carries the frames.
  EXPECT_LT(j["wire_bytes_out"].get<uint64_t>(), 2 * kMiB) << j.dump();

  // The same without --compress carries every byte.
  auto plain = run_json({"--json", "--restart", src, dir_.file("plain.img")});
  EXPECT_GT(plain["wire_bytes_out"].get<uint64_t>(), 8 * kMiB);
}

TEST_F(Transfer, CompressLevelNineAndIncrementalAfterwards) {
  const std::string src = dir_.file("text.img");
  const std::string dst = dir_.file("dst.img");
  SparseImage img(src, 8 * kMiB);
  img.bytes(kMiB, text(2 * kMiB));
  run_json({"--json", "--compress=9", src, dst});
  std::vector<uint8_t> change = text(64 * 1024);
  for (auto& b : change) b = static_cast<uint8_t>(b ^ 0x20);
  img.bytes(6 * kMiB, change);
  auto j = run_json({"--json", "--compress=9", "-b", "4K", src, dst});
  EXPECT_EQ(j["data_bytes"].get<uint64_t>(), 64u * 1024);
  EXPECT_FALSE(testing::first_difference(src, dst).has_value());
}

TEST_F(Transfer, IncompressibleDataGoesPlainWithoutExtraBytes) {
  const std::string src = dir_.file("random.img");
  SparseImage(src, 8 * kMiB).data(0, 8 * kMiB, 7);
  auto j = run_json({"--json", "--compress", src, dir_.file("a.img")});
  auto plain = run_json({"--json", src, dir_.file("b.img")});
  EXPECT_FALSE(testing::first_difference(src, dir_.file("a.img")).has_value());
  // Frames that did not shrink went as DATA: the same wire bytes as without.
  EXPECT_LE(j["wire_bytes_out"].get<uint64_t>(), plain["wire_bytes_out"].get<uint64_t>());
}

TEST_F(Transfer, BwlimitStillCopiesExactly) {
  const std::string src = dir_.file("src.img");
  SparseImage(src, 8 * kMiB).data(0, 2 * kMiB, 3).data(5 * kMiB, kMiB, 4);
  auto j = run_json({"--json", "--bwlimit", "64M", src, dir_.file("dst.img")});
  EXPECT_EQ(j["data_bytes"].get<uint64_t>(), 3 * kMiB);
  EXPECT_FALSE(testing::first_difference(src, dir_.file("dst.img")).has_value());
}

TEST_F(Transfer, BadValuesAreUsageErrors) {
  const std::string src = dir_.file("src.img");
  SparseImage(src, kMiB);
  for (auto args : std::vector<std::vector<std::string>>{
           {"--compress=0"}, {"--compress=20"}, {"--bwlimit", "fast"}, {"--bwlimit", "10"}}) {
    args.push_back(src);
    args.push_back(dir_.file("dst.img"));
    CommandResult r = testing::run_sparsync(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
  }
}

}  // namespace
}  // namespace sparsync
