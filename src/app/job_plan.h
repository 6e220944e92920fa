// A job's entries made ready to run: each entry's options, on top of the
// command line's, judged by the same parser and checks as a single sync
// (app/cli, app/location, app/safety), so every bad entry is refused with
// the file, line and entry before any group's pre command or sync starts.
// --only narrows the plan to the entries named (and their groups).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "app/change_tracker.h"
#include "app/cli.h"
#include "app/job_file.h"
#include "app/location.h"
#include "app/sync_request.h"
#include "common/status.h"

namespace sparsync {

struct PlannedEntry {
  JobEntry entry;
  CliOptions options;  // the command line's, then the entry's
  SyncRequest request;
  RemoteSide remote;
  std::string far_host;  // "" when both sides are on this host
  ChangesMode changes;   // --changes for this entry (kNone: none)
};

struct PlannedGroup {
  JobGroup group;  // its entries are in `entries`, not group.entries
  std::vector<PlannedEntry> entries;
};

struct JobPlan {
  std::string path;
  std::string name;
  int parallel = 1;
  std::vector<PlannedGroup> groups;
  size_t entry_count() const;
};

// `base` is the command line (--job, --parallel, --only and the options
// every entry shares, e.g. -i or -F).
Result<JobPlan> plan_job(const JobSpec& spec, const CliOptions& base);

// --parallel given, else the file's `parallel`, else the cores, at least one
// per far host, at most 8; never more than the entries.
int choose_parallel(int from_command_line, int from_file, int cores, size_t far_hosts, size_t entries);

}  // namespace sparsync
