// sparsync: a thin main over the app library. Maps every failure to one line
// on stderr and a documented exit code (README "Exit codes").
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "app/cli.h"
#include "app/client.h"
#include "app/location.h"
#include "app/run_sync.h"
#include "app/server.h"
#include "app/summary.h"
#include "common/handshake.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "common/protocol_constants.h"
#include "source/local_transport.h"
#include "source/ssh_runner.h"
#include "target/target_open.h"

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
  if (options.status) {
    if (options.source.empty() || !options.target.empty()) {
      return fail(Status(ErrorKind::kUsage, "--status takes one path: the target"));
    }
    auto report = target_status(options.source);
    if (!report.is_ok()) return fail(report.status());
    std::cout << report.value() << std::endl;
    return 0;
  }
  SyncRequest request;
  s = build_request(options, &request);
  if (!s.is_ok()) return fail(s);
  RemoteSide remote;
  s = resolve_locations(options, &request, &remote);
  if (!s.is_ok()) return fail(s);

  install_interrupt_handlers();
  TransportFactory connect = [&]() -> Result<std::unique_ptr<Transport>> {
    if (remote.remote) return open_ssh_transport(remote.ssh);
    auto local = LocalTransport::start({self_executable(), "--server"});
    if (!local.is_ok()) return local.status();
    return std::unique_ptr<Transport>(local.take());
  };
  RetryPolicy policy{options.retries, options.retry_wait, 300};
  SyncOutcome outcome;
  s = run_with_retries(connect, request, policy, &outcome);
  if (s.is_ok()) s = check_verify(outcome);
  if (!s.is_ok()) {
    if (options.json) std::cout << failure_json(static_cast<int>(s.kind()), s.message()) << std::endl;
    return fail(s);
  }
  if (options.json) {
    std::cout << summary_json(request, outcome) << std::endl;
  } else if (options.verbosity >= 0) {
    std::cout << summary_line(request, outcome) << std::endl;
  }
  return 0;
}
