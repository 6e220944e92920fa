// The job file of `sparsync --job FILE` (docs/usage.md "Jobs"): a TOML
// document naming many syncs at once, grouped by VM, each group with
// optional `pre` and `post` commands run around the capture of its sources.
// Parsing checks the shape only (known keys, types, names, required
// fields) and turns each entry's options, merged defaults < group < entry,
// into the command-line words they stand for, so that one parser (app/cli)
// judges every option value for both ways of running (app/job_plan.h).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace sparsync {

// A pre or post command waits at most this long unless the group says
// `hook-timeout`: a freeze that hangs must not hold the night.
inline constexpr int kDefaultHookTimeout = 600;

struct JobEntry {
  std::string name;
  std::string group;
  std::string source;
  std::string target;
  // The entry's options as command-line words ("--bwlimit=20M", "--verify").
  std::vector<std::string> args;
  int line = 0;  // where the entry starts in the file, for messages
};

struct JobGroup {
  std::string name;
  std::string pre;   // shell command, "" for none
  std::string post;  // shell command, "" for none
  int hook_timeout = kDefaultHookTimeout;
  std::vector<JobEntry> entries;
};

struct JobSpec {
  std::string path;  // the file, as given
  std::string name;  // `job = "..."`, else the file name without .toml
  int parallel = 0;  // `parallel = N`, 0 when not given
  std::vector<JobGroup> groups;
};

// Parses `text` (the contents of `path`); a kUsage status names the file,
// the line and what to change.
Result<JobSpec> parse_job_text(const std::string& text, const std::string& path);

// Reads and parses `path` (at most 1 MiB).
Result<JobSpec> read_job_file(const std::string& path);

// The sync options an entry (or [defaults], or a group) may set: the long
// options of the command line, without their dashes.
const std::vector<std::string>& job_option_keys();

}  // namespace sparsync
