#include "transport/local_transport.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace sparsync {

std::string self_executable() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "sparsync";
  return std::string(buf, static_cast<size_t>(n));
}

Result<std::unique_ptr<LocalTransport>> LocalTransport::start(const std::vector<std::string>& argv) {
  int to[2], from[2];
  if (::pipe2(to, O_CLOEXEC) != 0) return errno_status(ErrorKind::kInternal, "pipe", errno);
  if (::pipe2(from, O_CLOEXEC) != 0) {
    ::close(to[0]);
    ::close(to[1]);
    return errno_status(ErrorKind::kInternal, "pipe", errno);
  }
  UniqueFd to_r(to[0]), to_w(to[1]), from_r(from[0]), from_w(from[1]);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return errno_status(ErrorKind::kInternal, "fork", errno);
  if (pid == 0) {
    ::dup2(to_r.get(), STDIN_FILENO);
    ::dup2(from_w.get(), STDOUT_FILENO);
    ::signal(SIGPIPE, SIG_DFL);
    // Ctrl-C reaches the whole process group; the client decides how the
    // server stops (final checkpoint first), so the child ignores it.
    ::signal(SIGINT, SIG_IGN);
    ::execv(args[0], args.data());
    _exit(127);
  }
  return std::unique_ptr<LocalTransport>(new LocalTransport(pid, std::move(to_w), std::move(from_r)));
}

LocalTransport::~LocalTransport() {
  if (pid_ > 0) {
    to_child_.reset();
    from_child_.reset();
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

void LocalTransport::abandon() {
  if (pid_ <= 0) return;
  to_child_.reset();
  from_child_.reset();
  // SIGKILL: a stopped or hung child ignores SIGTERM until it runs again.
  ::kill(pid_, SIGKILL);
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

Status LocalTransport::finish() {
  to_child_.reset();
  from_child_.reset();
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, 0);
  } while (r < 0 && errno == EINTR);
  pid_ = -1;
  if (r < 0) return errno_status(ErrorKind::kInternal, "waiting for the server process", errno);
  if (WIFSIGNALED(st)) {
    return Status(ErrorKind::kConnection, "the server process was killed by signal " + std::to_string(WTERMSIG(st)));
  }
  int code = WEXITSTATUS(st);
  if (code == 127) return Status(ErrorKind::kConnection, "could not start the server process");
  if (code != 0) {
    ErrorKind kind = code >= 1 && code <= 8 ? static_cast<ErrorKind>(code) : ErrorKind::kInternal;
    return Status(kind, "the server process exited with status " + std::to_string(code));
  }
  return Status::ok();
}

}  // namespace sparsync
