#include <gtest/gtest.h>

#include "common/units.h"

namespace sparsync {
namespace {

TEST(ParseSize, PlainNumbers) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(ParseSize, BinarySuffixesAnyCase) {
  EXPECT_EQ(parse_size("64K"), 65536u);
  EXPECT_EQ(parse_size("64k"), 65536u);
  EXPECT_EQ(parse_size("64KB"), 65536u);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("64kib"), 65536u);
  EXPECT_EQ(parse_size("4M"), 4u << 20);
  EXPECT_EQ(parse_size("4MiB"), 4u << 20);
  EXPECT_EQ(parse_size("2G"), 2ull << 30);
  EXPECT_EQ(parse_size("3T"), 3ull << 40);
  EXPECT_EQ(parse_size("512B"), 512u);
}

TEST(ParseSize, RejectsGarbage) {
  for (const char* bad :
       {"", "K", "-1", " 4K", "4K ", "4 K", "4X", "4KX", "4BB", "4Bi", "1.5G", "0x10", "4KiBB", "4iB"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(ParseSize, RejectsOverflow) {
  EXPECT_FALSE(parse_size("18446744073709551616").has_value());
  EXPECT_FALSE(parse_size("99999999999999999999999").has_value());
  EXPECT_FALSE(parse_size("16777216T").has_value());  // 2^24 * 2^40 = 2^64
  EXPECT_EQ(parse_size("16777215T"), 16777215ull << 40);
}

TEST(FormatBytes, ExactValues) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1), "1 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.00 KiB");
  EXPECT_EQ(format_bytes(4096), "4.00 KiB");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(64 * 1024), "64.0 KiB");
  EXPECT_EQ(format_bytes(100u << 20), "100 MiB");
  EXPECT_EQ(format_bytes(1u << 20), "1.00 MiB");
  EXPECT_EQ(format_bytes(3ull << 30), "3.00 GiB");
  EXPECT_EQ(format_bytes(1ull << 40), "1.00 TiB");
  EXPECT_EQ(format_bytes(1ull << 50), "1.00 PiB");
  EXPECT_EQ(format_bytes(2048ull << 50), "2048 PiB");
}

TEST(FormatRate, AppendsPerSecondAndClampsNegative) {
  EXPECT_EQ(format_rate(1024.0 * 1024.0 * 812), "812 MiB/s");
  EXPECT_EQ(format_rate(-5), "0 B/s");
}

}  // namespace
}  // namespace sparsync
