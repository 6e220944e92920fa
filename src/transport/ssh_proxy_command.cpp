#include "transport/ssh_proxy_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "common/printable.h"
#include "transport/ssh_exec.h"

extern char** environ;

namespace sparsync {
namespace {

constexpr size_t kSaidCap = 4096;

// Polls for the child's end for up to `ms`; true once it has been reaped.
bool reaped_within(pid_t pid, int ms, int* status) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    ::usleep(20 * 1000);
  }
}

std::string how_it_ended(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

}  // namespace

Result<std::string> expand_proxy_tokens(const std::string& command, const ProxyTarget& target) {
  std::string out;
  for (size_t i = 0; i < command.size(); ++i) {
    if (command[i] != '%') {
      out += command[i];
      continue;
    }
    const char token = i + 1 < command.size() ? command[++i] : '\0';
    switch (token) {
      case 'h':
        out += target.host;
        break;
      case 'p':
        out += std::to_string(target.port);
        break;
      case 'r':
        out += target.user;
        break;
      case 'n':
        out += target.original;
        break;
      case '%':
        out += '%';
        break;
      default:
        return Status(ErrorKind::kUsage, "proxy command '" + printable(command) + "': unknown token %" +
                                             printable(std::string(1, token)) + "; use %h, %p, %r, %n or %%");
    }
  }
  return out;
}

Result<std::unique_ptr<ProxyCommand>> ProxyCommand::start(const std::string& command, const ProxyTarget& target) {
  auto expanded = expand_proxy_tokens(command, target);
  if (!expanded.is_ok()) return expanded.status();
  int pair[2], err[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return errno_status(ErrorKind::kConnection, "socketpair for the proxy command", errno);
  }
  UniqueFd ours(pair[0]), theirs(pair[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return errno_status(ErrorKind::kConnection, "pipe for the proxy command", errno);
  UniqueFd err_read(err[0]), err_write(err[1]);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  // dup2 onto 0, 1 and 2 clears close-on-exec there; everything else of ours closes at exec.
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  const std::string& line = expanded.value();
  const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return errno_status(ErrorKind::kConnection, "cannot start the proxy command '" + printable(command) + "'", rc);

  std::unique_ptr<ProxyCommand> p(new ProxyCommand());
  p->command_ = command;
  p->pid_ = pid;
  p->session_end_ = std::move(ours);
  p->said_ = std::make_shared<Said>();
  p->said_->fd = std::move(err_read);
  std::thread([said = p->said_] { drain(said); }).detach();
  return p;
}

ProxyCommand::~ProxyCommand() {
  // The command sees EOF whoever else still holds a descriptor of our end.
  if (session_end_.valid()) (void)::shutdown(session_end_.get(), SHUT_RDWR);
  session_end_.reset();
  int status = 0;
  if (pid_ > 0 && !reaped_within(pid_, 2000, &status)) {
    ::kill(-pid_, SIGTERM);
    if (!reaped_within(pid_, 1000, &status)) {
      ::kill(-pid_, SIGKILL);
      (void)reaped_within(pid_, 1000, &status);
    }
  }
}

Result<int> ProxyCommand::session_fd() {
  int fd = ::fcntl(session_end_.get(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return errno_status(ErrorKind::kConnection, "dup of the proxy command's socket", errno);
  return fd;
}

// Reads until every holder of the pipe has closed it, keeping the start.
void ProxyCommand::drain(const std::shared_ptr<Said>& said) {
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(said->fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard<std::mutex> lock(said->mu);
    if (n <= 0) {
      said->ended = true;
      return;
    }
    const size_t room = kSaidCap - std::min(kSaidCap, said->text.size());
    said->text.append(buf, std::min(room, static_cast<size_t>(n)));
  }
}

Status ProxyCommand::explain(const Status& failure) {
  int status = 0;
  const bool ended = pid_ > 0 && reaped_within(pid_, 1000, &status);
  if (ended) pid_ = -1;
  std::string said;
  // Its last words may still be in the pipe when it has been reaped.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ended ? 500 : 0);
  for (;;) {
    std::lock_guard<std::mutex> lock(said_->mu);
    said = first_line(said_->text);
    if (said_->ended || std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string msg = "proxy command '" + printable(command_) + "'";
  if (ended) msg += " " + how_it_ended(status);
  if (!said.empty()) msg += (ended ? ": " : " said: ") + printable(said);
  if (!ended && said.empty()) return failure.with_context(msg);
  return Status(failure.kind(), msg + " (" + failure.message() + "); check the command, or run it by hand");
}

}  // namespace sparsync
