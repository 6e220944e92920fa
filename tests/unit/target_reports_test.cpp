// TargetReports (source/target_reports.h) at a stop: a receiver waiting for
// room in a full buffer is let go by drain(), and takes the target's later
// reports without keeping them, so it reads on to the final checkpoint's
// ACK instead of leaving the source's wait for it to run out.
#include "source/target_reports.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

namespace sparsync::testing {
namespace {

constexpr size_t kDigest = 16;

TargetRun hashed(uint64_t first, uint64_t count) {
  return TargetRun{first, count, false, false, std::vector<uint8_t>(count * kDigest, 7)};
}

TEST(TargetReports, DrainLetsAReceiverWaitingForRoomReadOn) {
  // Room for 4 blocks' digests.
  TargetReports reports(0, 100, kDigest, 4 * kDigest);
  ASSERT_TRUE(reports.add_run(hashed(0, 4)).is_ok());
  auto receiver = std::async(std::launch::async, [&] {
    // Waits for room: nobody consumes.
    Status s = reports.add_run(hashed(4, 4));
    for (uint64_t b = 8; s.is_ok() && b < 100; b += 4) s = reports.add_run(hashed(b, 4));
    return s.is_ok() ? reports.finish(100) : s;
  });
  EXPECT_EQ(receiver.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
      << "a full buffer holds the receiver";
  reports.drain();
  ASSERT_EQ(receiver.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "drain() did not let the receiver go";
  EXPECT_TRUE(receiver.get().is_ok());
  EXPECT_TRUE(reports.finished());
}

TEST(TargetReports, ADrainedReceiverStillRefusesReportsOutOfOrder) {
  TargetReports reports(0, 100, kDigest, 4 * kDigest);
  reports.drain();
  ASSERT_TRUE(reports.add_run(hashed(0, 10)).is_ok());
  Status gap = reports.add_run(hashed(20, 4));
  EXPECT_EQ(gap.kind(), ErrorKind::kProtocol);
}

}  // namespace
}  // namespace sparsync::testing
