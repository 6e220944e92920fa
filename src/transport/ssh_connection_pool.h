// SshConnectionPool: the SSH connections of a job (app/job_run.h), shared
// by its syncs so that a far host is logged in to once per job, not once per
// disk. The first sync to a host (with given SSH options) logs in; the
// others wait for that login, then each runs its own `sparsync --server` on
// a new exec channel of the same session, at the same time as the others
// (transport/session_share.h says how the channels take turns). A session
// that broke is forgotten, and the next sync logs in again.
//
// A host where this binary had to be uploaded for the run (no sparsync of
// ours there) is not shared: the upload belongs to the sync that made it
// and goes when it ends, so each sync to such a host logs in and uploads.
// Thread-safety: open() and logins() may be called from any thread.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

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

  // A transport to `options.host` on the host's session, logging in first
  // when there is none. The pool must outlive the transport.
  Result<std::unique_ptr<Transport>> open(const SshOptions& options);

  // Logins made so far.
  int logins() const;

  // A session whose far command ended without an exit status (the link
  // broke): the next sync to its host logs in again.
  void forget(const std::string& key, const SshConnection* connection);

 private:
  struct Host {
    std::shared_ptr<SshConnection> connection;
    bool logging_in = false;
  };
  Result<std::unique_ptr<Transport>> log_in(const SshOptions& options, const std::string& key);

  mutable std::mutex mu_;
  std::condition_variable login_done_;
  std::map<std::string, Host> hosts_;
  int logins_ = 0;
};

}  // namespace sparsync
