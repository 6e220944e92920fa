// How a finished job is told (docs/usage.md "Jobs"): one table on stdout,
// one JSON document with --json, and one exit code. The exit code is the
// largest of its entries' and of its groups' pre/post commands' (0 when
// all succeeded; 9 for a failed pre or post command, which is also what
// the entries that a failed pre kept from running get).
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "app/job_plan.h"
#include "app/job_run.h"

namespace sparsync {

int job_exit_code(const JobRun& run);

// The summary table (a header line, a row per entry, a line per group with
// commands).
std::string job_table(const JobPlan& plan, const JobRun& run);

// {"job": ..., "ok": ..., "exit_code": ..., "entries": [...], "groups": [...]}:
// each entry's object holds name, group, ok, exit_code, error (on failure)
// and, when it synced, the fields of a single sync's --json.
std::string job_json(const JobPlan& plan, const JobRun& run);

}  // namespace sparsync
