// --metrics-file (app/metrics_file.h): exact exposition text, label escaping,
// carrying the last success over a failed run, atomic replacement; and the
// pure progress formatter (app/progress_display.h).
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "app/metrics_file.h"
#include "app/progress_display.h"
#include "support/files.h"

namespace sparsync {
namespace {

using testing::TempDir;

MetricsRun sample_run(int exit_code) {
  MetricsRun run;
  run.target = "backup:/srv/a.img";
  run.end_time = 1700000000.75;
  run.duration = 12.3456;
  run.exit_code = exit_code;
  run.stats.bytes_scanned = 1073741824;
  run.stats.data_bytes = 10485760;
  run.stats.hole_bytes = 4096;
  run.stats.wire_bytes_out = 10600000;
  run.stats.wire_bytes_in = 4200000;
  run.stats.changed_blocks = 2561;
  run.stats.undo_bytes = 10489856;
  run.stats.generations_kept = 7;
  run.stats.bytes_read = 20971520;
  run.stats.target_bytes_hashed = 8192;
  run.change_list_used = true;
  return run;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(MetricsTest, ExactTextOfASuccessfulRun) {
  const std::string l = "{target=\"backup:/srv/a.img\"}";
  std::string want =
      "# HELP sparsync_last_run_timestamp_seconds Unix time at the end of the last run, successful or not.\n"
      "# TYPE sparsync_last_run_timestamp_seconds gauge\n"
      "sparsync_last_run_timestamp_seconds" +
      l +
      " 1700000000\n"
      "# HELP sparsync_last_success_timestamp_seconds Unix time at the end of the last successful run (0: none "
      "recorded).\n"
      "# TYPE sparsync_last_success_timestamp_seconds gauge\n"
      "sparsync_last_success_timestamp_seconds" +
      l +
      " 1700000000\n"
      "# HELP sparsync_duration_seconds Wall time of the last run.\n"
      "# TYPE sparsync_duration_seconds gauge\n"
      "sparsync_duration_seconds" +
      l +
      " 12.346\n"
      "# HELP sparsync_bytes_scanned Bytes of the image the last run compared.\n"
      "# TYPE sparsync_bytes_scanned gauge\n"
      "sparsync_bytes_scanned" +
      l +
      " 1073741824\n"
      "# HELP sparsync_bytes_read Source bytes the last run read.\n"
      "# TYPE sparsync_bytes_read gauge\n"
      "sparsync_bytes_read" +
      l +
      " 20971520\n"
      "# HELP sparsync_target_bytes_hashed Target bytes the last run read to hash.\n"
      "# TYPE sparsync_target_bytes_hashed gauge\n"
      "sparsync_target_bytes_hashed" +
      l +
      " 8192\n"
      "# HELP sparsync_change_list_used 1 when the last run compared only what --changes listed, else 0.\n"
      "# TYPE sparsync_change_list_used gauge\n"
      "sparsync_change_list_used" +
      l +
      " 1\n"
      "# HELP sparsync_bytes_data Bytes the last run sent as data.\n"
      "# TYPE sparsync_bytes_data gauge\n"
      "sparsync_bytes_data" +
      l +
      " 10485760\n"
      "# HELP sparsync_bytes_holes Bytes the last run sent as holes (zero runs).\n"
      "# TYPE sparsync_bytes_holes gauge\n"
      "sparsync_bytes_holes" +
      l +
      " 4096\n"
      "# HELP sparsync_bytes_wire_sent Protocol bytes this side wrote to the link in the last run.\n"
      "# TYPE sparsync_bytes_wire_sent gauge\n"
      "sparsync_bytes_wire_sent" +
      l +
      " 10600000\n"
      "# HELP sparsync_bytes_wire_received Protocol bytes this side read from the link in the last run.\n"
      "# TYPE sparsync_bytes_wire_received gauge\n"
      "sparsync_bytes_wire_received" +
      l +
      " 4200000\n"
      "# HELP sparsync_changed_blocks Blocks the last run had to write or zero.\n"
      "# TYPE sparsync_changed_blocks gauge\n"
      "sparsync_changed_blocks" +
      l +
      " 2561\n"
      "# HELP sparsync_undo_journal_bytes Size of the last run's undo journal on the target (0: none kept).\n"
      "# TYPE sparsync_undo_journal_bytes gauge\n"
      "sparsync_undo_journal_bytes" +
      l +
      " 10489856\n"
      "# HELP sparsync_undo_generations_kept Generations of the undo journal the target keeps after the last run.\n"
      "# TYPE sparsync_undo_generations_kept gauge\n"
      "sparsync_undo_generations_kept" +
      l +
      " 7\n"
      "# HELP sparsync_exit_code Exit code of the last run (0 success; see README \"Exit codes\").\n"
      "# TYPE sparsync_exit_code gauge\n"
      "sparsync_exit_code" +
      l + " 0\n";
  EXPECT_EQ(metrics_text(sample_run(0), std::nullopt), want);
}

TEST(MetricsTest, ARunWithChangesSaysHowItCompared) {
  MetricsRun run = sample_run(0);
  EXPECT_EQ(metrics_text(run, std::nullopt).find("sparsync_change_source_info"), std::string::npos)
      << "no info series without --changes";
  run.change_list_used = false;
  run.change_source = "full";
  run.fallback_reason = "the target changed since the last run (\"written\")";
  const std::string text = metrics_text(run, std::nullopt);
  EXPECT_NE(text.find("\nsparsync_change_list_used{target=\"backup:/srv/a.img\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n# TYPE sparsync_change_source_info gauge\n"
                      "sparsync_change_source_info{target=\"backup:/srv/a.img\",change_source=\"full\","
                      "fallback_reason=\"the target changed since the last run (\\\"written\\\")\"} 1\n"),
            std::string::npos)
      << text;
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("plain/path.img"), "plain/path.img");
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  MetricsRun run = sample_run(0);
  run.target = "h:/x \"y\"\\\n";
  std::string text = metrics_text(run, std::nullopt);
  EXPECT_NE(text.find("sparsync_exit_code{target=\"h:/x \\\"y\\\"\\\\\\n\"} 0\n"), std::string::npos) << text;
  // The carried-over value is found again through the escaped label.
  EXPECT_EQ(find_last_success(text), "1700000000");
}

TEST(MetricsTest, FailedRunKeepsTheLastSuccess) {
  std::string failed = metrics_text(sample_run(5), std::string("1690000000"));
  EXPECT_NE(failed.find("sparsync_last_success_timestamp_seconds{target=\"backup:/srv/a.img\"} 1690000000\n"),
            std::string::npos);
  EXPECT_NE(failed.find("sparsync_last_run_timestamp_seconds{target=\"backup:/srv/a.img\"} 1700000000\n"),
            std::string::npos);
  EXPECT_NE(failed.find("sparsync_exit_code{target=\"backup:/srv/a.img\"} 5\n"), std::string::npos);
  // Never succeeded: 0, so that an alert on the age fires.
  EXPECT_NE(metrics_text(sample_run(5), std::nullopt)
                .find("sparsync_last_success_timestamp_seconds{target=\"backup:/srv/a.img\"} 0\n"),
            std::string::npos);
  EXPECT_EQ(find_last_success("garbage\nsparsync_last_success_timestamp_seconds{target=\"x\"} abc\n"), std::nullopt);
  EXPECT_EQ(find_last_success(""), std::nullopt);
}

TEST(MetricsTest, FileIsReplacedAtomicallyAndCarriesTheSuccessOver) {
  TempDir dir;
  std::string path = dir.file("sparsync.prom");
  ASSERT_TRUE(write_metrics_file(path, sample_run(0)).is_ok());
  EXPECT_EQ(slurp(path), metrics_text(sample_run(0), std::nullopt));
  struct stat first {};
  ASSERT_EQ(::stat(path.c_str(), &first), 0);
  EXPECT_EQ(first.st_mode & 0777, 0644u);  // the collector runs as another user

  MetricsRun failed = sample_run(4);
  failed.end_time = 1700086400;
  ASSERT_TRUE(write_metrics_file(path, failed).is_ok());
  EXPECT_EQ(slurp(path), metrics_text(failed, std::string("1700000000")));
  struct stat second {};
  ASSERT_EQ(::stat(path.c_str(), &second), 0);
  EXPECT_NE(first.st_ino, second.st_ino);  // renamed into place, not rewritten
  EXPECT_EQ(testing::directory_entries(dir.path()), std::vector<std::string>{"sparsync.prom"});  // no temporary left

  // A second failure still carries it.
  failed.end_time = 1700090000;
  ASSERT_TRUE(write_metrics_file(path, failed).is_ok());
  EXPECT_EQ(find_last_success(slurp(path)), "1700000000");
}

TEST(MetricsTest, PathChecks) {
  TempDir dir;
  EXPECT_TRUE(check_metrics_path(dir.file("m.prom")).is_ok());
  EXPECT_EQ(check_metrics_path(dir.file("missing/m.prom")).kind(), ErrorKind::kUsage);
  EXPECT_EQ(check_metrics_path(dir.path()).kind(), ErrorKind::kUsage);  // a directory
  EXPECT_EQ(write_metrics_file(dir.file("missing/m.prom"), sample_run(0)).kind(), ErrorKind::kInternal);
}

TEST(ProgressTextTest, Formats) {
  ProgressSample s;
  EXPECT_EQ(progress_text(s), "connecting");
  s.phase = Phase::kSyncing;
  s.total = 1024ull * 1024 * 1024;
  s.scanned = 256ull * 1024 * 1024;
  s.data_bytes = 12ull * 1024 * 1024;
  EXPECT_EQ(progress_text(s), "syncing 256 MiB of 1.00 GiB scanned (25%), 12.0 MiB sent");
  s.hole_bytes = 2 * 1024 * 1024;
  EXPECT_EQ(progress_text(s), "syncing 256 MiB of 1.00 GiB scanned (25%), 12.0 MiB sent, 2.00 MiB as holes");
  s.hole_bytes = 0;
  s.rate = 128.0 * 1024 * 1024;
  s.eta_seconds = 6;
  EXPECT_EQ(progress_text(s), "syncing 256 MiB of 1.00 GiB scanned (25%), 12.0 MiB sent, 128 MiB/s, ETA 0:06");
  s.phase = Phase::kDone;  // no ETA once finished
  EXPECT_EQ(progress_text(s), "done 256 MiB of 1.00 GiB scanned (25%), 12.0 MiB sent, 128 MiB/s");
  // --verify's pass: the bytes it hashed, at its own rate.
  s.phase = Phase::kVerifying;
  s.verified = 768ull * 1024 * 1024;
  s.rate = 256.0 * 1024 * 1024;
  s.eta_seconds = 1;
  EXPECT_EQ(progress_text(s), "verifying 768 MiB of 1.00 GiB read (75%), 256 MiB/s, ETA 0:01");
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(125.4), "2:05");
  EXPECT_EQ(format_duration(3723), "1:02:03");
}

TEST(ProgressTextTest, ModeChoice) {
  using Mode = ProgressDisplay::Mode;
  EXPECT_EQ(choose_progress_mode(0, false, true), Mode::kTerminal);
  EXPECT_EQ(choose_progress_mode(0, false, false), Mode::kOff);
  EXPECT_EQ(choose_progress_mode(0, true, false), Mode::kPlain);
  EXPECT_EQ(choose_progress_mode(2, true, true), Mode::kTerminal);
  EXPECT_EQ(choose_progress_mode(-1, true, true), Mode::kOff);  // -q wins
  EXPECT_EQ(choose_progress_mode(-1, true, false), Mode::kOff);
}

}  // namespace
}  // namespace sparsync
