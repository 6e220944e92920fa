// --to's argument (common/rollback_to.h): runs back, @unix, local date/time.
#include "common/rollback_to.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace sparsync {
namespace {

using Kind = RollbackTo::Kind;

TEST(RollbackTo, AWholeNumberIsRunsBack) {
  EXPECT_EQ(parse_rollback_to("1"), (RollbackTo{Kind::kRunsBack, 1}));
  EXPECT_EQ(parse_rollback_to("12"), (RollbackTo{Kind::kRunsBack, 12}));
  EXPECT_FALSE(parse_rollback_to("0"));  // 0 runs back is the target as it is
  EXPECT_FALSE(parse_rollback_to("-1"));
  EXPECT_FALSE(parse_rollback_to("1x"));
  EXPECT_FALSE(parse_rollback_to("9999999999999999999999"));
  EXPECT_FALSE(parse_rollback_to(""));
}

TEST(RollbackTo, AtSecondsIsUnixTime) {
  EXPECT_EQ(parse_rollback_to("@1764558000"), (RollbackTo{Kind::kTime, 1764558000}));
  EXPECT_FALSE(parse_rollback_to("@"));
  EXPECT_FALSE(parse_rollback_to("@12a"));
}

TEST(RollbackTo, ALocalDateAndTimeIsReadInTheLocalZone) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  EXPECT_EQ(parse_rollback_to("2025-12-01T03:00"), (RollbackTo{Kind::kTime, 1764558000}));
  EXPECT_EQ(parse_rollback_to("2025-12-01 03:00:07"), (RollbackTo{Kind::kTime, 1764558007}));
  EXPECT_EQ(parse_rollback_to("2025-12-01"), (RollbackTo{Kind::kTime, 1764547200}));
  EXPECT_EQ(format_local_time(1764558007), "2025-12-01 03:00:07");
  EXPECT_FALSE(parse_rollback_to("2025-02-31"));  // not normalised into March
  EXPECT_FALSE(parse_rollback_to("2025-12-01T25:00"));
  EXPECT_FALSE(parse_rollback_to("2025-12-01T03"));
  EXPECT_FALSE(parse_rollback_to("2025-12-01X03:00"));
  EXPECT_FALSE(parse_rollback_to("yesterday"));
  ::unsetenv("TZ");
  ::tzset();
}

TEST(RollbackTo, DescribedForItsReport) {
  EXPECT_EQ(describe_rollback_to({}), "before the interrupted run");
  EXPECT_EQ(describe_rollback_to({Kind::kRunsBack, 1}), "1 run back");
  EXPECT_EQ(describe_rollback_to({Kind::kRunsBack, 3}), "3 runs back");
}

}  // namespace
}  // namespace sparsync
