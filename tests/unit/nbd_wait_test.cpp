// Waits on one NBD handle from two threads (source/nbd_wait.h, through
// NbdSource with a real qemu-nbd; skipped, with the reason, where the qemu
// tools or libnbd are missing). The reader and the extent scan of a run
// wait on the same handle; when the server stops answering, the first wait
// to give up must stop the other at once: not a second --timeout later,
// and never by polling again (a late reply would land in the buffer of a
// read whose caller has already dropped it; the ASan lane sees that).
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <thread>

#include "source/nbd_source.h"
#include "support/files.h"
#include "support/process.h"
#include "support/qemu_tools.h"
#include "support/sizes.h"
#include "support/unix_socket.h"

namespace sparsync::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kTimeoutSeconds = 4;
// The second read starts this long after the first: it would wait until
// kLateStart + kTimeoutSeconds on its own, and ends with the first near
// kTimeoutSeconds.
constexpr auto kLateStart = std::chrono::milliseconds(2500);

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

TEST(NbdWaits, WhenOneGivesUpOnAStoppedServerTheOtherStopsWithIt) {
  if (std::string missing = qemu_utils_missing(); !missing.empty()) GTEST_SKIP() << missing;
  TempDir dir;
  const std::string image = dir.file("guest.raw");
  SparseImage(image, 4 * kMiB).data(0, 4 * kMiB, 3);
  const std::string socket = dir.file("nbd.sock");
  auto server =
      Process::start({"/usr/bin/qemu-nbd", "--read-only", "--persistent", "--socket=" + socket, "--format=raw", image});
  ASSERT_TRUE(wait_until([&] { return unix_socket_listening(socket); }, 10)) << server->stderr_so_far();
  auto source = NbdSource::connect_uri("nbd+unix:///?socket=" + socket, kTimeoutSeconds);
  ASSERT_TRUE(source.is_ok()) << source.status().message();
  NbdSource& nbd = *source.value();
  std::vector<uint8_t> warm(64 * kKiB);
  ASSERT_TRUE(nbd.read_at(0, warm.data(), warm.size()).is_ok()) << "the server answers before it is stopped";

  ASSERT_TRUE(server->signal(SIGSTOP));
  const auto start = Clock::now();
  Status first, second;
  Clock::time_point first_end, second_start, second_end;
  std::thread early([&] {
    std::vector<uint8_t> buf(64 * kKiB);  // dropped as soon as the read gives up
    first = nbd.read_at(kMiB, buf.data(), buf.size());
    first_end = Clock::now();
  });
  std::this_thread::sleep_for(kLateStart);
  std::thread late([&] {
    std::vector<uint8_t> buf(64 * kKiB);
    second_start = Clock::now();
    second = nbd.read_at(2 * kMiB, buf.data(), buf.size());
    second_end = Clock::now();
  });
  early.join();
  // The server answers again while the late read may still be waiting: its
  // reply to the early read must find nobody polling.
  server->signal(SIGCONT);
  late.join();

  EXPECT_FALSE(first.is_ok());
  EXPECT_NE(first.message().find("answered nothing for 4 s while reading"), std::string::npos) << first.message();
  EXPECT_GE(seconds_between(start, first_end), kTimeoutSeconds - 0.1);
  EXPECT_FALSE(second.is_ok()) << "the late read polled the handle after the early one gave up on it";
  EXPECT_NE(second.message().find("answered nothing"), std::string::npos) << second.message();
  // On its own the late read would have waited kTimeoutSeconds from its
  // start; it ended with the early one's (polling slices of 0.2 s, and load).
  EXPECT_LT(seconds_between(second_start, second_end), kTimeoutSeconds - 1.0)
      << "the late read waited out a timeout of its own";
}

}  // namespace
}  // namespace sparsync::testing
