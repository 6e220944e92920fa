#include "common/run_program.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "common/printable.h"
#include "common/unique_fd.h"

extern char** environ;

namespace sparsync {
namespace {

std::string first_nonempty_line(const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      return line;
    }
    start = end + 1;
  }
  return "";
}

// Starts argv[0] from PATH with stdout and stderr into the two pipes;
// posix_spawnp's error number.
int spawn(const std::vector<std::string>& argv, int out_write, int err_write, pid_t* pid) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_write, STDERR_FILENO);
  posix_spawnattr_setpgroup(&attr, 0);
  // sparsync blocks or ignores some signals for its own threads (SIGPIPE for
  // its sockets); the helper gets the defaults it was written for.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> args = argv;
  std::vector<char*> ptrs;
  ptrs.reserve(args.size() + 1);
  for (std::string& a : args) ptrs.push_back(a.data());
  ptrs.push_back(nullptr);
  const int rc = ::posix_spawnp(pid, ptrs[0], &actions, &attr, ptrs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return rc;
}

// Reads what is there now into `into` (keeping at most `cap` bytes); false
// once the pipe has ended.
bool drain(int fd, std::string* into, size_t cap) {
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      const size_t room = cap - std::min(cap, into->size());
      into->append(buf, std::min(room, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

}  // namespace

std::string ProgramRun::first_line() const {
  std::string line = first_nonempty_line(err);
  if (line.empty()) line = first_nonempty_line(out);
  return printable(line);
}

Result<ProgramRun> run_program(const std::vector<std::string>& argv, const ProgramLimits& limits, ErrorKind role,
                               const std::string& package) {
  if (argv.empty()) return Status(ErrorKind::kInternal, "run_program: no program");
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return errno_status(role, "cannot run " + argv[0], errno);
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return errno_status(role, "cannot run " + argv[0], errno);
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  // The child's ends block as usual; only ours are polled.
  ::fcntl(out_write.get(), F_SETFL, 0);
  ::fcntl(err_write.get(), F_SETFL, 0);
  pid_t pid = -1;
  const int err = spawn(argv, out_write.get(), err_write.get(), &pid);
  out_write.reset();
  err_write.reset();
  if (err == ENOENT) return Status(ErrorKind::kUsage, argv[0] + " is not on PATH (" + package + ")");
  if (err != 0) return errno_status(role, "cannot run " + argv[0], err);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limits.timeout_seconds);
  ProgramRun run;
  bool out_open = true, err_open = true, exited = false;
  int wstatus = 0;
  // Until it exits and both pipes end: a helper's output arrives before its
  // exit, and none of these helpers leaves a child holding the pipes.
  while (!exited || out_open || err_open) {
    pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
    if (out_open || err_open) {
      pollfd* first = out_open ? &fds[0] : &fds[1];
      (void)::poll(first, out_open && err_open ? 2 : 1, 50);
      if (out_open) out_open = drain(out_read.get(), &run.out, limits.max_stdout);
      if (err_open) err_open = drain(err_read.get(), &run.err, limits.max_stderr);
    } else {
      ::usleep(10 * 1000);
    }
    if (!exited) exited = ::waitpid(pid, &wstatus, WNOHANG) == pid;
    if (std::chrono::steady_clock::now() >= deadline && (!exited || out_open || err_open)) {
      if (!exited) {
        ::kill(-pid, SIGKILL);
        while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
        }
        run.timed_out = true;
      }
      break;
    }
  }
  run.exit_code = !run.timed_out && WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  return run;
}

}  // namespace sparsync
