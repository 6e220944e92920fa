// sparsync: a thin main over the app library. Parses the command line, picks
// what this invocation does (app/modes.h) and runs it; every failure ends as
// one line on stderr and a documented exit code (README "Exit codes").
#include <signal.h>

#include "app/cli.h"
#include "app/exit_code.h"
#include "app/modes.h"
#include "app/refused_run.h"

using namespace sparsync;

int main(int argc, char** argv) {
  // A peer that goes away must surface as EPIPE on write, not kill us.
  ::signal(SIGPIPE, SIG_IGN);
  CliOptions options;
  Status parsed = parse_cli(argc, argv, &options);
  Result<Mode> mode = parsed.is_ok() ? pick_mode(options) : Result<Mode>(parsed);
  if (!mode.is_ok()) {
    record_refused_run(refused_run_metrics_path(options, argc, argv), options.target, mode.status());
    return exit_code(mode.status());
  }
  return run_mode(mode.value(), options);
}
