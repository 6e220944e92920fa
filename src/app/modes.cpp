#include "app/modes.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "app/exit_code.h"
#include "app/job_mode.h"
#include "app/location.h"
#include "app/remote_rollback.h"
#include "app/server.h"
#include "app/server_fence.h"
#include "app/status_json.h"
#include "app/sync_mode.h"
#include "common/handshake.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "common/proto/protocol_constants.h"
#include "target/rollback.h"
#include "target/target_open.h"
#include "target/target_status.h"
#include "transport/ssh_runner.h"
#include "transport/ssh_status.h"

namespace sparsync {
namespace {

void print_version() { std::cout << software_version() << " (protocol " << proto::kProtocolVersion << ")\n"; }

// The server maps its own failures to exit codes: it decides which are worth
// a line on its stderr (app/server.h). A client run with -q starts it with
// -q: its notices would reach that user's terminal (or cron mail).
int run_server_mode(const CliOptions& options) {
  if (options.verbosity < 0) log::set_level(log::Level::kError);
  ServerFence fence{options.allow_roots, options.read_only, options.write_only};
  Status fence_ok = validate_fence(fence);
  if (!fence_ok.is_ok()) return exit_code(fence_ok);
  // A forced command in authorized_keys runs instead of the client's probe.
  if (is_version_probe(std::getenv("SSH_ORIGINAL_COMMAND"))) {
    print_version();
    return 0;
  }
  ServerTimeout timeout{options.timeout >= 0 ? static_cast<uint32_t>(options.timeout) : kDefaultIdleTimeout,
                        options.timeout >= 0};
  return run_server(STDIN_FILENO, STDOUT_FILENO, fence, timeout);
}

// -q, -v and -vv; the client modes (a server takes -q only).
void apply_verbosity(int verbosity) {
  log::set_level(verbosity < 0    ? log::Level::kError
                 : verbosity == 0 ? log::Level::kInfo
                 : verbosity == 1 ? log::Level::kVerbose
                                  : log::Level::kDebug);
}

// --status of a target on this host, as text or JSON.
Result<std::string> local_target_status(const std::string& path, bool json) {
  auto facts = read_target_status(path);
  if (!facts.is_ok()) return facts.status();
  return json ? target_status_json(facts.value()) : target_status_text(facts.value());
}

// The record is beside the target, so a far target's status comes from its host.
Status print_target_status(const CliOptions& options) {
  if (options.source.empty() || !options.target.empty()) {
    return Status(ErrorKind::kUsage, "--status takes one path: the target");
  }
  auto where = parse_location(options.source);
  if (!where.is_ok()) return where.status();
  const uint32_t timeout = options.timeout >= 0 ? static_cast<uint32_t>(options.timeout) : kDefaultIdleTimeout;
  auto report = where.value().remote ? remote_target_status(ssh_options_for(options, where.value(), timeout),
                                                            where.value().path, options.json)
                                     : local_target_status(where.value().path, options.json);
  if (!report.is_ok()) return report.status();
  std::cout << report.value() << std::endl;
  return Status::ok();
}

Result<RollbackTo> rollback_to(const CliOptions& options) {
  if (options.rollback_to_text.empty()) return RollbackTo{};
  auto parsed = parse_rollback_to(options.rollback_to_text);
  if (!parsed) {
    return Status(ErrorKind::kUsage, "--to " + options.rollback_to_text +
                                         ": give a number of runs back (1 is the state before the last run), "
                                         "a local time YYYY-MM-DD[THH:MM[:SS]], or @UNIX-SECONDS");
  }
  return *parsed;
}

// host:TARGET: through the far side's server, with the sync's SSH options
// (and its upload when the far host has no sparsync), so its fence applies.
Result<std::string> roll_back_far_target(const CliOptions& options, const Location& far, const RollbackTo& to) {
  const uint32_t timeout = options.timeout >= 0 ? static_cast<uint32_t>(options.timeout) : kDefaultIdleTimeout;
  install_interrupt_handlers();
  auto transport = open_ssh_transport(ssh_options_for(options, far, timeout));
  if (!transport.is_ok()) return transport.status();
  return run_remote_rollback(*transport.value(), far.path, to, timeout);
}

Status roll_back_target(const CliOptions& options) {
  if (options.source.empty() || !options.target.empty()) {
    return Status(ErrorKind::kUsage, "--rollback takes one path: the target (TARGET here, or host:TARGET)");
  }
  auto to = rollback_to(options);
  if (!to.is_ok()) return to.status();
  auto where = parse_location(options.source);
  auto report = where.is_ok() && where.value().remote ? roll_back_far_target(options, where.value(), to.value())
                                                      : rollback_target(options.source, to.value());
  if (!report.is_ok()) return report.status();
  // -q: the exit code says it; errors are still printed.
  if (options.verbosity >= 0) std::cout << report.value() << std::endl;
  return Status::ok();
}

}  // namespace

Result<Mode> pick_mode(const CliOptions& options) {
  if (options.help) return Mode::kHelp;
  if (options.version) return Mode::kVersion;
  if (options.server) return Mode::kServer;
  if (!options.allow_roots.empty() || options.read_only || options.write_only) {
    return Status(ErrorKind::kUsage,
                  "--allow-root, --read-only and --write-only go with --server "
                  "(in the far host's authorized_keys)");
  }
  if (options.status && options.rollback)
    return Status(ErrorKind::kUsage, "--status and --rollback do not go together");
  if (!options.rollback_to_text.empty() && !options.rollback)
    return Status(ErrorKind::kUsage, "--to goes with --rollback (sparsync --rollback TARGET --to K)");
  if (options.job_file.empty() && (options.parallel > 0 || !options.only.empty()))
    return Status(ErrorKind::kUsage, "--parallel and --only go with --job FILE");
  if (!options.job_file.empty() && (options.status || options.rollback))
    return Status(ErrorKind::kUsage, "--job does not go with --status or --rollback");
  if (options.status) return Mode::kStatus;
  if (!options.job_file.empty()) return Mode::kJob;
  return options.rollback ? Mode::kRollback : Mode::kSync;
}

int run_mode(Mode mode, const CliOptions& options) {
  switch (mode) {
    case Mode::kHelp:
      std::cout << options.help_text;
      return 0;
    case Mode::kVersion:
      print_version();
      return 0;
    case Mode::kServer:
      return run_server_mode(options);
    case Mode::kStatus:
      apply_verbosity(options.verbosity);
      return exit_code(print_target_status(options));
    case Mode::kRollback:
      apply_verbosity(options.verbosity);
      return exit_code(roll_back_target(options));
    case Mode::kJob:
      apply_verbosity(options.verbosity);
      return run_job_mode(options);
    case Mode::kSync:
      apply_verbosity(options.verbosity);
      return exit_code(run_sync_mode(options));
  }
  return exit_code(Status(ErrorKind::kInternal, "unknown mode"));  // every Mode is handled above
}

}  // namespace sparsync
