// The --job mode of the command line: reads and checks the whole job file
// (every entry, before anything runs), runs it (app/job_run.h), writes the
// job's metrics file, prints the table or the JSON document, and returns
// the job's exit code (app/job_report.h). A job never prompts: its syncs
// run at once from several threads, so SSH runs as with --batch.
// Thread-safety: called once, from main's thread.
#pragma once

#include "app/cli.h"

namespace sparsync {

int run_job_mode(const CliOptions& options);

}  // namespace sparsync
