#include "app/job_mode.h"

#include <iostream>

#include "app/exit_code.h"
#include "app/job_file.h"
#include "app/job_metrics.h"
#include "app/job_plan.h"
#include "app/job_report.h"
#include "app/job_run.h"
#include "app/metrics_file.h"
#include "app/summary.h"
#include "common/log.h"

namespace sparsync {
namespace {

Status check_job_options(const CliOptions& o) {
  if (!o.source.empty() || !o.target.empty()) {
    return Status(ErrorKind::kUsage, "--job takes no SOURCE or TARGET: the job file names them for each entry");
  }
  if (o.map) return Status(ErrorKind::kUsage, "--map draws one run; it does not go with --job");
  if (!o.stdin_size_text.empty()) return Status(ErrorKind::kUsage, "--size is for a source on stdin; not with --job");
  if (!o.metrics_file.empty()) SPARSYNC_RETURN_IF_ERROR(check_metrics_path(o.metrics_file));
  return Status::ok();
}

Result<JobPlan> load(const CliOptions& options) {
  SPARSYNC_RETURN_IF_ERROR(check_job_options(options));
  auto spec = read_job_file(options.job_file);
  if (!spec.is_ok()) return spec.status();
  CliOptions base = options;
  base.batch = true;
  return plan_job(spec.value(), base);
}

}  // namespace

int run_job_mode(const CliOptions& options) {
  auto plan = load(options);
  if (!plan.is_ok()) {
    if (options.json) {
      std::cout << failure_json(static_cast<int>(plan.status().kind()), plan.status().message()) << std::endl;
    }
    return exit_code(plan.status());
  }
  log::verbose("job " + plan.value().name + ": " + std::to_string(plan.value().entry_count()) + " entries, " +
               std::to_string(plan.value().parallel) + " at once");
  JobRun run = run_job(plan.value());
  if (!options.metrics_file.empty()) {
    Status written = write_job_metrics(options.metrics_file, plan.value(), run);
    if (!written.is_ok()) log::error(written.message());  // the job's own result still decides the exit code
  }
  if (options.json) {
    std::cout << job_json(plan.value(), run) << std::endl;
  } else if (options.verbosity >= 0) {
    std::cout << job_table(plan.value(), run) << std::flush;
  }
  return job_exit_code(run);
}

}  // namespace sparsync
