// Location: sorts a SOURCE or TARGET argument into a local path or a remote
// `[user@]host:path`, following scp's rules so that what works with scp
// works here: a colon only makes a location remote when it comes before any
// slash, a leading `/` or `./` forces a local path, and `[addr]:path`
// carries IPv6 addresses. resolve_locations then turns the two arguments into
// a SyncRequest plus, when one side is remote, the SSH options to reach it.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "app/cli.h"
#include "app/sync_request.h"
#include "common/status.h"
#include "transport/ssh_options.h"

namespace sparsync {

struct Location {
  bool remote = false;
  std::string user;  // empty when not given
  std::string host;  // without brackets
  std::string path;  // the path on that host
};

// Fails (kUsage) on `host:` without a path, `:path`-style empty hosts and
// unbalanced brackets.
Result<Location> parse_location(const std::string& arg);

// The side that is not this host, if any.
struct RemoteSide {
  bool remote = false;
  SshOptions ssh;
};

// The SSH options of the command line for reaching `far`, with the idle
// timeout in seconds.
SshOptions ssh_options_for(const CliOptions& options, const Location& far, uint32_t timeout);

// Rewrites request->source/target to plain paths, sets request->pull when the
// source is the remote side and fills *remote. Both sides remote is a usage
// error.
Status resolve_locations(const CliOptions& options, SyncRequest* request, RemoteSide* remote);

}  // namespace sparsync
