// Runs a planned job (app/job_plan.h): at most `parallel` syncs at once,
// taken in the job file's order; each group's `pre` command runs once,
// before the first of its syncs starts, and its `post` command once, after
// the last has ended, also when syncs failed (or pre did: a freeze that
// half-happened still wants its thaw). When pre fails, the group's syncs
// are not run. SSH connections are shared through one SshConnectionPool.
// One entry's failure stops no other entry.
// Thread-safety: run_job is called from one thread; it starts and joins
// the worker threads itself.
#pragma once

#include <string>
#include <vector>

#include "app/job_plan.h"
#include "app/sync_request.h"
#include "common/status.h"

namespace sparsync {

struct EntryRun {
  std::string name;
  std::string group;
  Status status;
  bool ran = false;  // false: skipped (its group's pre failed, or interrupted)
  SyncOutcome outcome;
  double seconds = 0;
  double end_time = 0;  // Unix seconds
};

struct HookResult {
  bool ran = false;
  Status status;
  double seconds = 0;
};

struct GroupRun {
  std::string name;
  HookResult pre;
  HookResult post;
};

struct JobRun {
  std::vector<GroupRun> groups;   // in the plan's order
  std::vector<EntryRun> entries;  // in the plan's order
  int logins = 0;                 // SSH logins the job made
  double seconds = 0;
};

JobRun run_job(const JobPlan& plan);

}  // namespace sparsync
