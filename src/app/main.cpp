// sparsync: a thin main over the app library. Parses the command line, picks
// what this invocation does (app/modes.h) and runs it; every failure ends as
// one line on stderr and a documented exit code (README "Exit codes").
#include <signal.h>

#include "app/cli.h"
#include "app/exit_code.h"
#include "app/modes.h"

using namespace sparsync;

int main(int argc, char** argv) {
  // A peer that goes away must surface as EPIPE on write, not kill us.
  ::signal(SIGPIPE, SIG_IGN);
  CliOptions options;
  Status parsed = parse_cli(argc, argv, &options);
  if (!parsed.is_ok()) return exit_code(parsed);
  Result<Mode> mode = pick_mode(options);
  if (!mode.is_ok()) return exit_code(mode.status());
  return run_mode(mode.value(), options);
}
