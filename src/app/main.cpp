// sparsync: a thin main over the app library. Maps every failure to one line
// on stderr and a documented exit code (README "Exit codes").
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "app/cli.h"
#include "app/client.h"
#include "app/server.h"
#include "app/summary.h"
#include "common/handshake.h"
#include "common/log.h"
#include "common/protocol_constants.h"
#include "source/local_transport.h"

using namespace sparsync;

static int fail(const Status& s) {
  log::error(s.message());
  return static_cast<int>(s.kind());
}

int main(int argc, char** argv) {
  // A peer that goes away must surface as EPIPE on write, not kill us.
  ::signal(SIGPIPE, SIG_IGN);
  CliOptions options;
  Status s = parse_cli(argc, argv, &options);
  if (!s.is_ok()) return fail(s);
  if (options.help) {
    std::cout << options.help_text;
    return 0;
  }
  if (options.version) {
    std::cout << software_version() << " (protocol " << proto::kProtocolVersion << ")\n";
    return 0;
  }
  if (options.server) return run_server(STDIN_FILENO, STDOUT_FILENO);

  log::set_level(options.verbosity < 0   ? log::Level::kError
                 : options.verbosity == 0 ? log::Level::kInfo
                 : options.verbosity == 1 ? log::Level::kVerbose
                                          : log::Level::kDebug);
  SyncRequest request;
  s = build_request(options, &request);
  if (!s.is_ok()) return fail(s);

  auto transport = LocalTransport::start({self_executable(), "--server"});
  if (!transport.is_ok()) return fail(transport.status());
  SyncOutcome outcome;
  s = run_client(*transport.value(), request, &outcome);
  if (!s.is_ok()) return fail(s);
  if (options.verbosity >= 0) std::cout << summary_line(request, outcome) << std::endl;
  return 0;
}
