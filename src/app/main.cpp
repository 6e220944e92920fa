// sparsync: a thin main over the app library. Maps every failure to one line
// on stderr and a documented exit code (README "Exit codes").
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <iostream>

#include "app/cli.h"
#include "app/client.h"
#include "app/location.h"
#include "app/map_output.h"
#include "app/metrics_file.h"
#include "app/progress_display.h"
#include "app/run_sync.h"
#include "app/safety.h"
#include "app/server.h"
#include "app/server_fence.h"
#include "app/summary.h"
#include "common/handshake.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "common/proto/protocol_constants.h"
#include "transport/local_transport.h"
#include "transport/ssh_runner.h"
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
  if (options.server) {
    ServerFence fence{options.allow_roots, options.read_only, options.write_only};
    s = validate_fence(fence);
    if (!s.is_ok()) return fail(s);
    // A forced command in authorized_keys runs instead of the client's probe.
    if (is_version_probe(std::getenv("SSH_ORIGINAL_COMMAND"))) {
      std::cout << software_version() << " (protocol " << proto::kProtocolVersion << ")\n";
      return 0;
    }
    ServerTimeout timeout{options.timeout >= 0 ? static_cast<uint32_t>(options.timeout) : kDefaultIdleTimeout,
                          options.timeout >= 0};
    return run_server(STDIN_FILENO, STDOUT_FILENO, fence, timeout);
  }
  if (!options.allow_roots.empty() || options.read_only || options.write_only) {
    return fail(Status(ErrorKind::kUsage, "--allow-root, --read-only and --write-only go with --server "
                                          "(in the far host's authorized_keys)"));
  }

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
  s = check_sides(request, remote.remote);
  if (!s.is_ok()) return fail(s);
  if (!options.metrics_file.empty()) {
    s = check_metrics_path(options.metrics_file);
    if (!s.is_ok()) return fail(s);
  }
  Progress progress;
  ChangeMap change_map;
  request.progress = &progress;
  if (options.map) request.change_map = &change_map;
  bool tty = ::isatty(STDERR_FILENO) != 0;
  ProgressDisplay display(progress, choose_progress_mode(options.verbosity, options.progress, tty),
                          options.progress_interval, STDERR_FILENO);
  auto started = std::chrono::steady_clock::now();

  install_interrupt_handlers();
  TransportFactory connect = [&]() -> Result<std::unique_ptr<Transport>> {
    if (remote.remote) return open_ssh_transport(remote.ssh);
    auto local = LocalTransport::start({self_executable(), "--server"});
    if (!local.is_ok()) return local.status();
    return std::unique_ptr<Transport>(local.take());
  };
  RetryPolicy policy{options.retries, options.retry_wait, 300};
  // stdin cannot be read again, so a broken run cannot be retried (docs/usage.md "Reading the source from stdin").
  if (request.source_stdin) policy.retries = 0;
  SyncOutcome outcome;
  display.start();
  s = run_with_retries(connect, request, policy, &outcome);
  if (s.is_ok()) s = check_verify(outcome);
  if (s.is_ok()) {
    // The last frame shows what the summary says (the engines' counters may lag by a flush).
    progress.data_bytes.store(outcome.stats.data_bytes);
    progress.hole_bytes.store(outcome.stats.hole_bytes);
    progress.set_phase(Phase::kDone);
  }
  display.stop();
  if (!options.metrics_file.empty()) {
    MetricsRun run{options.target, static_cast<double>(std::time(nullptr)),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                   static_cast<int>(s.kind()), outcome.stats};
    Status m = write_metrics_file(options.metrics_file, run);
    if (!m.is_ok()) log::error(m.message());  // the sync's own result still decides the exit code
  }
  if (!s.is_ok()) {
    if (options.json) std::cout << failure_json(static_cast<int>(s.kind()), s.message()) << std::endl;
    return fail(s);
  }
  for (const std::string& line : verbose_details(outcome)) log::verbose(line);
  if (options.json) {
    std::cout << summary_json(request, outcome) << std::endl;
  } else if (options.verbosity >= 0) {
    std::cout << summary_line(request, outcome) << std::endl;
    if (options.map) std::cout << map_report(request, terminal_columns()) << std::flush;
  }
  return 0;
}
