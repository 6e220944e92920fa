// DirectReader (common/direct_reader.h) on a real file: exact bytes across
// windows and at an unaligned tail, and reads that go on while another
// thread invalidates what they wait for (a run's writer and its undo
// journal's reads of the old bytes share windows). A reader that waits for
// ever fails the test by a bound instead of hanging it.
#include "common/direct_reader.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

#include "support/files.h"
#include "support/sizes.h"

namespace sparsync::testing {
namespace {

// Not a multiple of the window: the last one is short.
constexpr uint64_t kFileBytes = 40 * kMiB + 12345;

class DirectReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("image.raw");
    SparseImage(path_, kFileBytes).data(0, kFileBytes, 61);
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd_, 0);
    reader_ = DirectReader::open(fd_, kFileBytes);
    if (!reader_) GTEST_SKIP() << dir_.path() << "'s filesystem refuses O_DIRECT";
  }
  void TearDown() override {
    reader_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  // Reads [offset, offset + len) and checks every byte.
  void expect_exact(uint64_t offset, size_t len) {
    std::vector<uint8_t> buf(len);
    size_t got = 0;
    ASSERT_EQ(reader_->read(offset, buf.data(), len, &got), 0);
    const size_t want = static_cast<size_t>(std::min<uint64_t>(len, kFileBytes - offset));
    ASSERT_EQ(got, want) << "at " << offset;
    buf.resize(got);
    ASSERT_EQ(buf, pattern_bytes(61, offset, got)) << "at " << offset;
  }

  TempDir dir_;
  std::string path_;
  int fd_ = -1;
  std::unique_ptr<DirectReader> reader_;
};

TEST_F(DirectReaderTest, ReadsExactBytesAcrossWindowsAndTheShortTail) {
  expect_exact(0, 4096);
  expect_exact(DirectReader::kWindowBytes - 100, 200);  // across a window boundary
  expect_exact(3 * kMiB + 7, 9 * kMiB);                 // across three windows
  expect_exact(kFileBytes - 5000, 5000);                // the unaligned tail
  expect_exact(kFileBytes - 100, 4096);                 // past the end: short
  expect_exact(kMiB, 64 * kKiB);                        // backwards again
}

// A writer invalidates windows while a reader waits for them: every read
// must end (and be exact, the file being unchanged). Before the fix an
// invalidated queued window left its reader waiting for ever.
TEST_F(DirectReaderTest, ReadsEndWhileAnotherThreadInvalidatesWhatTheyWaitFor) {
  std::atomic<bool> invalidating{true};
  std::atomic<uint64_t> reads{0};
  auto reader = std::async(std::launch::async, [&] {
    for (int pass = 0; pass < 1000 && (invalidating || pass < 2); ++pass) {
      for (uint64_t at = 0; at < kFileBytes; at += 256 * kKiB) {
        expect_exact(at, 64 * kKiB);
        if (::testing::Test::HasFatalFailure()) return;
        ++reads;
      }
    }
  });
  for (int i = 0; i < 20000; ++i) {
    reader_->invalidate(0, kFileBytes);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    if (reader.wait_for(std::chrono::seconds(0)) == std::future_status::ready) break;
  }
  invalidating = false;
  if (reader.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    // The reader cannot be joined: say so and end the test process, which
    // ctest counts as this test's failure.
    std::fprintf(stderr, "a read waited for ever after %llu reads (lost wakeup)\n",
                 static_cast<unsigned long long>(reads.load()));
    std::fflush(stderr);
    std::_Exit(1);
  }
  reader.get();
  EXPECT_GT(reads.load(), 0u);
}

}  // namespace
}  // namespace sparsync::testing
