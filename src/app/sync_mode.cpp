#include "app/sync_mode.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "app/change_tracker.h"
#include "app/location.h"
#include "app/map_output.h"
#include "app/metrics_file.h"
#include "app/progress_display.h"
#include "app/push_source.h"
#include "app/refused_run.h"
#include "app/run_sync.h"
#include "app/safety.h"
#include "app/summary.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "target/target_open.h"
#include "transport/local_transport.h"
#include "transport/ssh_runner.h"

namespace sparsync {
namespace {

using Clock = std::chrono::steady_clock;

// Everything that can refuse the run from the command line and this host
// alone, before anything is connected or the target opened.
Status prepare(const CliOptions& options, SyncRequest* request, RemoteSide* remote, ChangesMode* changes) {
  SPARSYNC_RETURN_IF_ERROR(build_request(options, request));
  SPARSYNC_RETURN_IF_ERROR(resolve_locations(options, request, remote));
  SPARSYNC_RETURN_IF_ERROR(check_sides(*request, remote->remote));
  SPARSYNC_RETURN_IF_ERROR(changes_mode_from(options, *request, changes));
  // The client opens it again for each attempt; this one costs an open and
  // spares a connection (and the far side's complaint that we hung up).
  if (!request->pull) {
    auto source = open_push_source(*request);
    if (!source.is_ok()) return source.status();
  }
  if (!options.metrics_file.empty()) SPARSYNC_RETURN_IF_ERROR(check_metrics_path(options.metrics_file));
  return Status::ok();
}

// One transport per attempt: SSH to the far host, or this binary as a
// local --server child (quiet with -q, like a far one). `remote` must
// outlive the factory.
TransportFactory connector(const RemoteSide& remote, bool quiet) {
  return [&remote, quiet]() -> Result<std::unique_ptr<Transport>> {
    if (remote.remote) return open_ssh_transport(remote.ssh);
    std::vector<std::string> argv{self_executable(), "--server"};
    if (quiet) argv.push_back("-q");
    auto local = LocalTransport::start(argv);
    if (!local.is_ok()) return local.status();
    return std::unique_ptr<Transport>(local.take());
  };
}

RetryPolicy retry_policy(const CliOptions& options, const SyncRequest& request) {
  RetryPolicy policy{options.retries, options.retry_wait, 300};
  // stdin cannot be read again, so a broken run cannot be retried (docs/usage.md "Reading the source from stdin").
  if (request.source_stdin) policy.retries = 0;
  return policy;
}

// The run itself, with retries, while the progress display shows `progress`.
Status transfer(const CliOptions& options, const SyncRequest& request, const RemoteSide& remote, Progress* progress,
                SyncOutcome* outcome) {
  bool tty = ::isatty(STDERR_FILENO) != 0;
  ProgressDisplay display(*progress, choose_progress_mode(options.verbosity, options.progress, tty),
                          options.progress_interval, STDERR_FILENO);
  install_interrupt_handlers();
  TransportFactory connect = connector(remote, options.verbosity < 0);
  RetryPolicy policy = retry_policy(options, request);
  display.start();
  Status s = run_with_retries(connect, request, policy, outcome);
  if (s.is_ok()) s = check_verify(*outcome);
  if (s.is_ok()) {
    // The last frame shows what the summary says (the engines' counters may lag by a flush).
    progress->data_bytes.store(outcome->stats.data_bytes);
    progress->hole_bytes.store(outcome->stats.hole_bytes);
    progress->set_phase(Phase::kDone);
  }
  display.stop();
  return s;
}

void record_metrics(const CliOptions& options, Clock::time_point started, const Status& result,
                    const SyncOutcome& outcome) {
  MetricsRun run{options.target,
                 static_cast<double>(std::time(nullptr)),
                 std::chrono::duration<double>(Clock::now() - started).count(),
                 static_cast<int>(result.kind()),
                 outcome.stats,
                 !outcome.change_source.empty() && outcome.change_source != "full",
                 outcome.change_source,
                 outcome.fallback_reason};
  Status written = write_metrics_file(options.metrics_file, run);
  if (!written.is_ok()) log::error(written.message());  // the sync's own result still decides the exit code
}

void print_failure_json(const CliOptions& options, const Status& failure) {
  if (options.json) std::cout << failure_json(static_cast<int>(failure.kind()), failure.message()) << std::endl;
}

// A finished run's report: -v details on stderr, the summary line (or JSON)
// and the map on stdout.
void print_results(const CliOptions& options, const SyncRequest& request, const SyncOutcome& outcome) {
  for (const std::string& line : verbose_details(outcome)) log::verbose(line);
  if (options.json) {
    std::cout << summary_json(request, outcome) << std::endl;
  } else if (options.verbosity >= 0) {
    std::cout << summary_line(request, outcome) << std::endl;
    if (options.map) std::cout << map_report(request, terminal_columns()) << std::flush;
  }
}

}  // namespace

Status run_sync_mode(const CliOptions& options) {
  SyncRequest request;
  RemoteSide remote;
  ChangesMode changes;
  Status prepared = prepare(options, &request, &remote, &changes);
  std::unique_ptr<ChangeTracker> tracker;
  if (prepared.is_ok() && changes.kind != ChangesMode::Kind::kNone) {
    auto created = ChangeTracker::create(changes, request, change_target_key(request, remote));
    if (created.is_ok()) tracker = created.take();
    prepared = created.status();
  }
  if (!prepared.is_ok()) {
    record_refused_run(options.metrics_file, options.target, prepared);
    print_failure_json(options, prepared);
    return prepared;
  }
  auto started = Clock::now();
  SyncOutcome outcome;
  Progress progress;
  ChangeMap change_map;
  request.progress = &progress;
  if (options.map) request.change_map = &change_map;
  request.changes = tracker.get();
  if (tracker) tracker->start_early(request);
  Status result = transfer(options, request, remote, &progress, &outcome);
  // The tracker moves on only from a run the target confirmed (its source
  // is closed by now: a bitmap can be rotated).
  if (tracker && result.is_ok()) {
    Status kept = tracker->commit();
    if (!kept.is_ok()) log::error("--changes: " + kept.message() + "; the next run compares in full");
  } else if (tracker) {
    tracker->abandon();
  }
  if (!options.metrics_file.empty()) record_metrics(options, started, result, outcome);
  if (!result.is_ok()) {
    print_failure_json(options, result);
    return result;
  }
  print_results(options, request, outcome);
  return Status::ok();
}

}  // namespace sparsync
