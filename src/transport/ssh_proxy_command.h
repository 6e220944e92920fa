// A ProxyCommand run by sparsync itself, as ssh runs one: `/bin/sh -c
// COMMAND` with one end of a socketpair as its stdin and stdout, the SSH
// session over the other end. libssh 0.10 can run it too, but sends its
// stderr to /dev/null, so a proxy that fails ("no route to the DR site")
// shows only as "Connection reset by peer"; here its first words are kept
// and put into the error that names the command.
// Thread-safety: one owner; a thread of its own drains the command's stderr.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace sparsync {

// What ssh's ProxyCommand tokens stand for.
struct ProxyTarget {
  std::string host;      // %h: the host name after the config (HostName)
  unsigned port = 22;    // %p
  std::string user;      // %r
  std::string original;  // %n: the name as given
};

// COMMAND with %h, %p, %r, %n and %% expanded; an unknown token is an error.
Result<std::string> expand_proxy_tokens(const std::string& command, const ProxyTarget& target);

class ProxyCommand {
 public:
  // Starts the command (tokens expanded), in a process group of its own so
  // that Ctrl-C reaches sparsync's safe stop, not the link under it.
  static Result<std::unique_ptr<ProxyCommand>> start(const std::string& command, const ProxyTarget& target);
  // Waits for the command to end (it sees EOF once the session is gone);
  // after 2 s it is terminated.
  ~ProxyCommand();

  // A descriptor of the session's end of the socketpair, for libssh.
  // libssh 0.10 does not close a socket it was handed (SSH_OPTIONS_FD), so
  // this object shuts the connection down itself when it is destroyed.
  Result<int> session_fd();
  // `failure` of the session over the command, with what the command said
  // on stderr and how it ended, when it has ended within a second.
  Status explain(const Status& failure);

 private:
  // What the command said on stderr; shared with the thread that reads it,
  // which may outlive this object by as long as a stray grandchild keeps
  // the pipe open.
  struct Said {
    UniqueFd fd;
    std::mutex mu;
    std::string text;    // the first 4 KiB
    bool ended = false;  // every holder of the pipe has closed it
  };
  ProxyCommand() = default;
  static void drain(const std::shared_ptr<Said>& said);

  std::string command_;  // as written, for messages
  pid_t pid_ = -1;
  UniqueFd session_end_;
  std::shared_ptr<Said> said_;
};

}  // namespace sparsync
