// --metrics-file in a directory others can write (app/metrics_file.h): a
// symlink or FIFO planted at the file's name after the run's check is
// neither followed, read nor waited on, and is replaced; the file linked to
// keeps its exact bytes; a planted link is refused before the run; what is
// read of a previous file is bounded.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>

#include "app/metrics_file.h"
#include "support/files.h"

namespace sparsync {
namespace {

using testing::TempDir;

MetricsRun failed_metrics_run() {
  MetricsRun run;
  run.target = "vm1";
  run.end_time = 1700086400;
  run.exit_code = 3;
  return run;
}

std::string whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool lstat_is(const std::string& path, mode_t type) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && (st.st_mode & S_IFMT) == type;
}

// What an earlier run of another job could have left: a success at 12345.
const std::string kForgedMetrics = "sparsync_last_success_timestamp_seconds{target=\"vm1\"} 12345\n";

TEST(MetricsFileSafety, ASymlinkAtTheNameIsRefusedBeforeTheRun) {
  TempDir dir, outside;
  std::string victim = outside.file("victim");
  std::ofstream(victim) << kForgedMetrics;
  std::string path = dir.file("sparsync.prom");
  ASSERT_EQ(::symlink(victim.c_str(), path.c_str()), 0);
  Status s = check_metrics_path(path);
  EXPECT_EQ(s.kind(), ErrorKind::kUsage);
  EXPECT_NE(s.message().find("is a symbolic link"), std::string::npos) << s.message();
  // Dangling, too: it would be created through.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::symlink(outside.file("new").c_str(), path.c_str()), 0);
  EXPECT_EQ(check_metrics_path(path).kind(), ErrorKind::kUsage);
  EXPECT_FALSE(testing::exists(outside.file("new")));
}

// Planted after the check: the link is replaced, not followed or read.
TEST(MetricsFileSafety, ASymlinkPlantedLaterIsReplacedAndItsTargetUntouched) {
  TempDir dir, outside;
  std::string victim = outside.file("victim");
  std::ofstream(victim) << kForgedMetrics;
  std::string path = dir.file("sparsync.prom");
  ASSERT_EQ(::symlink(victim.c_str(), path.c_str()), 0);
  MetricsRun run = failed_metrics_run();
  ASSERT_TRUE(write_metrics_file(path, run).is_ok());
  EXPECT_EQ(whole_file(victim), kForgedMetrics);
  EXPECT_TRUE(lstat_is(path, S_IFREG));
  // The success recorded behind the link is not taken for ours.
  EXPECT_EQ(whole_file(path), metrics_text(run, std::nullopt));
  EXPECT_EQ(testing::directory_entries(dir.path()), std::vector<std::string>{"sparsync.prom"});
}

// A FIFO at the name would block a plain open for reading for ever.
TEST(MetricsFileSafety, AFifoPlantedLaterIsNotWaitedOnAndIsReplaced) {
  TempDir dir;
  std::string path = dir.file("sparsync.prom");
  ASSERT_EQ(::mkfifo(path.c_str(), 0666), 0);
  MetricsRun run = failed_metrics_run();
  auto written = std::async(std::launch::async, [&] { return write_metrics_file(path, run); });
  if (written.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // Let the blocked open go, so the test can end, then fail.
    int unblock = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
    if (unblock >= 0) ::close(unblock);
    ADD_FAILURE() << "writing the metrics file waited on the FIFO";
  }
  EXPECT_TRUE(written.get().is_ok());
  EXPECT_TRUE(lstat_is(path, S_IFREG));
  EXPECT_EQ(whole_file(path), metrics_text(run, std::nullopt));
}

// A previous file is read only so far: a planted giant is not read whole.
TEST(MetricsFileSafety, OnlyTheFirst64KiBOfAPreviousFileAreRead) {
  TempDir dir;
  std::string path = dir.file("sparsync.prom");
  std::ofstream(path) << std::string(64 * 1024, '#') << "\n" << kForgedMetrics;
  MetricsRun run = failed_metrics_run();
  ASSERT_TRUE(write_metrics_file(path, run).is_ok());
  EXPECT_EQ(find_last_success(whole_file(path)), "0");
  // Within the bound it is carried over as before.
  std::ofstream(path) << kForgedMetrics;
  ASSERT_TRUE(write_metrics_file(path, run).is_ok());
  EXPECT_EQ(find_last_success(whole_file(path)), "12345");
}

}  // namespace
}  // namespace sparsync
