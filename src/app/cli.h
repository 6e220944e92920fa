// The command line: parses argv into what the user asked for. Errors are
// usage errors (exit code 2) with one line saying which option and why.
#pragma once

#include <string>
#include <vector>

#include "app/sync_request.h"
#include "common/status.h"

namespace sparsync {

// 4 KiB: measured in docs/how-it-works.md "Block size"; finest granularity, same speed as 64K.
inline constexpr uint32_t kDefaultBlockSize = 4 * 1024;

struct CliOptions {
  bool server = false;
  bool version = false;
  bool help = false;
  std::string help_text;
  int verbosity = 0;  // -1 quiet, 0 normal, 1 -v, 2 -vv
  std::string source;
  std::string target;
  std::string block_size_text;
  std::string checksum = "xxh3";
  bool dry_run = false;
  bool allow_larger_target = false;
  bool force = false;           // skip the target's mount check (docs/security.md "Safety rails")
  std::string stdin_size_text;  // --size, for SOURCE "-" (stdin)
  // Resume, retry, verify (docs/usage.md "Resume and verification").
  bool restart = false;
  bool verify = false;
  bool status = false;  // --status TARGET: report, sync nothing
  // Undo journal (docs/undo-journal.md).
  bool rollback = false;         // --rollback TARGET: restore the state before an interrupted run
  std::string rollback_to_text;  // --to K|TIME: an older kept generation instead
  bool undo = false;
  bool no_undo = false;
  bool keep_cache = false;            // --keep-cache: reads and writes stay in the page cache
  std::string changes;                // --changes digest|reflink|bitmap:NAME ("" none)
  uint32_t full_every = 0;            // --full-every N: a full comparison every N runs
  int keep = -1;                      // --keep N: kept generations; -1 not given
  std::string source_format = "raw";  // --source-format raw|qcow2|auto
  std::string max_undo_text;          // --max-undo SIZE (K/M/G suffixes; 0 = no cap)
  bool json = false;                  // the summary as one JSON object on stdout
  // Operator output (docs/usage.md "Progress, summary and monitoring").
  bool progress = false;         // progress lines even when stderr is not a terminal
  double progress_interval = 5;  // seconds between plain progress lines
  std::string metrics_file;      // --metrics-file PATH (Prometheus text format)
  bool map = false;              // draw where the run wrote
  // Jobs (docs/usage.md "Jobs"): many syncs from one file.
  std::string job_file;           // --job FILE
  int parallel = 0;               // --parallel N; 0: from the cores and the far hosts
  std::vector<std::string> only;  // --only NAME (repeatable): run just these entries
  std::string bwlimit_text;       // --bwlimit RATE (bytes/s, K/M/G suffixes)
  int compress_level = 0;         // --compress[=LEVEL]; 0 = off
  int lanes = 0;                  // --lanes N; 0 = by the round trip
  std::string checkpoint_interval_text = "1G";
  uint32_t checkpoint_seconds = 30;
  int retries = 3;
  double retry_wait = 5;
  // SSH (see transport/ssh_options.h for what empty/zero means).
  int ssh_port = 0;
  std::string ssh_login;
  std::vector<std::string> ssh_identities;
  std::string ssh_config;
  std::string ssh_jump;
  std::string proxy_command;
  std::string known_hosts;
  bool accept_new_host_key = false;
  bool batch = false;
  int connect_timeout = 30;
  int keepalive = 15;
  // --timeout SECONDS; -1: not given (the client uses kDefaultIdleTimeout, a
  // server the client's announced value).
  int timeout = -1;
  std::string remote_path = "sparsync";
  bool sudo = false;
  bool no_upload = false;
  // Server fencing (app/server_fence.h; docs/security.md "Fencing the far side").
  std::vector<std::string> allow_roots;
  bool read_only = false;
  bool write_only = false;
};

Status parse_cli(int argc, char** argv, CliOptions* options);

// Turns parsed options into a request for two local paths.
Status build_request(const CliOptions& options, SyncRequest* request);

}  // namespace sparsync
