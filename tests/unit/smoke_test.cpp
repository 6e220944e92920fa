#include <gtest/gtest.h>
#include "common/units.h"
TEST(Units, ParsesSuffixes) { EXPECT_EQ(sparsync::parse_size("64K").value(), 65536u); }
