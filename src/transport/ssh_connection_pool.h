// SshConnectionPool: the SSH connections of a job (app/job_run.h), kept
// between its syncs so that the syncs to one far host pay for one login,
// not one each. A sync takes an idle connection to its host (same SSH
// options) or logs in, runs `sparsync --server` on a new exec channel of
// it, and gives the connection back once the far command has ended with an
// exit status (the session is then known to be sound).
//
// What it does not do: run two syncs on one session at the same time.
// libssh sessions are not thread-safe and each transport's ChannelPump
// thread owns its session while it runs (transport/ssh_pump.h), so syncs
// that run at once to the same host use one connection each; a host is
// logged in to at most as many times as syncs to it ran at once
// (--parallel), and exactly once with --parallel 1. Sharing one session
// between concurrent syncs needs one pump thread serving all its channels
// (as it already serves lanes): docs/how-it-works.md "Jobs".
// Thread-safety: open() and logins() may be called from any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "transport/ssh_connection.h"
#include "transport/ssh_options.h"
#include "transport/transport.h"

namespace sparsync {

class SshConnectionPool {
 public:
  SshConnectionPool() = default;
  SshConnectionPool(const SshConnectionPool&) = delete;
  SshConnectionPool& operator=(const SshConnectionPool&) = delete;

  // A transport to `options.host`, on an idle connection when there is one.
  // The pool must outlive the transport.
  Result<std::unique_ptr<Transport>> open(const SshOptions& options);

  // Logins made so far, and the hosts they went to.
  int logins() const;

  // Called by a pooled transport whose far command ended cleanly.
  void give_back(const std::string& key, std::unique_ptr<SshConnection> connection);

 private:
  std::unique_ptr<SshConnection> take_idle(const std::string& key);

  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<SshConnection>>> idle_;
  int logins_ = 0;
};

}  // namespace sparsync
