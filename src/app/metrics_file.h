// --metrics-file: the run's figures in the Prometheus text exposition format
// (version 0.0.4), for node_exporter's textfile collector (docs/usage.md
// "Metrics for monitoring"). One file per run configuration, every sample labelled
// target="...". The file is replaced atomically (temporary file in the same
// directory, fsync, rename, fsync of the directory), so the collector never
// reads half a file. A failed run keeps the previous file's
// sparsync_last_success_timestamp_seconds. The directory may be writable by
// others (a shared collector directory, sparsync as root in cron): every
// name is opened relative to the directory's fd, the temporary is created
// O_EXCL|O_NOFOLLOW under an unpredictable name, and the previous file is
// read only if it is a regular file (no link followed, no FIFO waited on),
// 64 KiB at most.
// Thread-safety: plain functions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/session.h"
#include "common/status.h"

namespace sparsync {

struct MetricsRun {
  std::string target;   // the label value
  double end_time = 0;  // Unix seconds at the end of the run
  double duration = 0;  // seconds
  int exit_code = 0;    // the run's exit code (0 success)
  SyncStats stats;
  bool change_list_used = false;  // --changes: the run compared only what its tracker listed
  // --changes: the mode whose list the run used, or "full"; and why it
  // compared in full. Both "" without --changes (no info series then).
  std::string change_source;
  std::string fallback_reason;
};

// The info series of a run with --changes: its labels (after the target's)
// and help; nullopt without --changes.
struct ChangeInfo {
  std::string labels;  // change_source="...",fallback_reason="..."
};
inline constexpr const char* kChangeInfoName = "sparsync_change_source_info";
inline constexpr const char* kChangeInfoHelp =
    "Always 1: how the last run with --changes compared (change_source: the mode whose list it used, or full; "
    "fallback_reason: why it compared in full).";
std::optional<ChangeInfo> change_info(const MetricsRun& run);

// One series of a run: its name, HELP text and value.
struct MetricSample {
  const char* name;
  const char* help;
  std::string value;
};

// The run's series, in the file's order; `last_success` as for metrics_text.
std::vector<MetricSample> metric_samples(const MetricsRun& run, const std::optional<std::string>& last_success);

// A label value escaped per the format: backslash, double quote, newline.
std::string escape_label_value(const std::string& value);

// The whole file. `last_success` is the value to write for
// sparsync_last_success_timestamp_seconds when the run failed (the previous
// file's, as text); without one it is 0 (never succeeded).
std::string metrics_text(const MetricsRun& run, const std::optional<std::string>& last_success);

// The value of sparsync_last_success_timestamp_seconds in an earlier file's
// text, if there is a well-formed one; `labels_start` is what its labels
// begin with (a job's file holds one per entry: app/job_metrics.h).
std::optional<std::string> find_last_success(const std::string& file_text, const std::string& labels_start = "");

// Refuses (usage error) a path whose directory does not exist, or that is a
// symbolic link or not a regular file, before the run.
Status check_metrics_path(const std::string& path);

// Replaces the file atomically with text_for(the previous file's text, ""
// when none; read as the header says).
Status replace_metrics_file(const std::string& path, const std::function<std::string(const std::string&)>& text_for);

// Reads the previous file (when the run failed), then replaces it atomically.
Status write_metrics_file(const std::string& path, const MetricsRun& run);

}  // namespace sparsync
