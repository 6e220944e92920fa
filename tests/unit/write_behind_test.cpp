// WriteBehind: which ranges it asks the device to start writing back and to
// wait for, for sequential, scattered and checkpointed write patterns.
#include "target/write_behind.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/fake_device.h"

namespace sparsync::testing {
namespace {

constexpr uint64_t kK = 4096;

class HintRecorder : public MemoryDevice {
 public:
  HintRecorder() : MemoryDevice(64 << 20, ErrorKind::kTarget) {}
  void start_writeback(uint64_t offset, uint64_t length) override {
    hints.push_back("start " + std::to_string(offset) + "+" + std::to_string(length));
  }
  void wait_writeback(uint64_t offset, uint64_t length) override {
    hints.push_back("wait " + std::to_string(offset) + "+" + std::to_string(length));
  }
  std::vector<std::string> hints;
};

TEST(WriteBehind, StartsEachWindowAndWaitsForThePreviousOne) {
  HintRecorder dev;
  WriteBehind wb(&dev, 4 * kK);
  for (uint64_t i = 0; i < 3; ++i) wb.wrote(i * kK, kK);
  EXPECT_TRUE(dev.hints.empty());
  wb.wrote(3 * kK, kK);
  EXPECT_EQ(dev.hints, (std::vector<std::string>{"start 0+16384"}));
  for (uint64_t i = 4; i < 8; ++i) wb.wrote(i * kK, kK);
  EXPECT_EQ(dev.hints, (std::vector<std::string>{"start 0+16384", "wait 0+16384", "start 16384+16384"}));
}

TEST(WriteBehind, ScatteredWritesCountBytesAndCoverTheirSpan) {
  HintRecorder dev;
  WriteBehind wb(&dev, 2 * kK);
  wb.wrote(0, kK);
  wb.wrote(1 << 20, kK);
  EXPECT_EQ(dev.hints, (std::vector<std::string>{"start 0+" + std::to_string((1 << 20) + kK)}));
}

TEST(WriteBehind, NothingIsWaitedForAfterASync) {
  HintRecorder dev;
  WriteBehind wb(&dev, 2 * kK);
  wb.wrote(0, 2 * kK);
  wb.wrote(2 * kK, kK);
  wb.synced();
  wb.wrote(3 * kK, 2 * kK);
  EXPECT_EQ(dev.hints, (std::vector<std::string>{"start 0+8192", "start 12288+8192"}));
}

}  // namespace
}  // namespace sparsync::testing
