// --metrics-file with --job: one file for the whole job, in the format of
// a single sync's (app/metrics_file.h, replaced the same safe way), every
// entry's series labelled job="...",entry="...",target="..." and the job's
// own series labelled job="..." (exit code, duration, SSH logins, failed
// pre/post commands with group and command labels). Each entry keeps its
// own last success time across failed runs; entries a --only run left out
// keep their series from the previous file.
// Thread-safety: plain functions.
#pragma once

#include <string>

#include "app/job_plan.h"
#include "app/job_run.h"
#include "common/status.h"

namespace sparsync {

// The file's text after `run`, given the previous file's text.
std::string job_metrics_text(const JobPlan& plan, const JobRun& run, const std::string& previous);

Status write_job_metrics(const std::string& path, const JobPlan& plan, const JobRun& run);

}  // namespace sparsync
