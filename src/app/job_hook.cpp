#include "app/job_hook.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "common/printable.h"
#include "common/unique_fd.h"

extern char** environ;

namespace sparsync {
namespace {

constexpr size_t kOutputCap = size_t{64} * 1024;

std::string first_output_line(const std::string& output) {
  size_t begin = output.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = output.find('\n', begin);
  return output.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

std::vector<std::string> hook_environment(const std::string& job, const std::string& group, const std::string& which) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string var(*e);
    if (var.rfind("SPARSYNC_JOB=", 0) == 0 || var.rfind("SPARSYNC_GROUP=", 0) == 0 ||
        var.rfind("SPARSYNC_HOOK=", 0) == 0) {
      continue;
    }
    env.push_back(var);
  }
  env.push_back("SPARSYNC_JOB=" + job);
  env.push_back("SPARSYNC_GROUP=" + group);
  env.push_back("SPARSYNC_HOOK=" + which);
  return env;
}

// Spawns the shell with its output into `out_write`, in a new process group.
Result<pid_t> spawn_shell(const std::string& command, int out_write, std::vector<std::string> env) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_write, STDERR_FILENO);
  posix_spawnattr_setpgroup(&attr, 0);
  // The job ignores SIGPIPE for its sockets; a hook's pipelines expect the default.
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errno_status(ErrorKind::kCommand, "cannot start /bin/sh", rc);
  return pid;
}

// Reads what is there now; false once the pipe has ended.
bool read_some(int fd, std::string* output) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      size_t room = kOutputCap - std::min(kOutputCap, output->size());
      output->append(buf, std::min(room, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

std::string escaped_lines(const std::string& output) {
  std::string out;
  size_t start = 0;
  while (start < output.size()) {
    size_t nl = output.find('\n', start);
    size_t end = nl == std::string::npos ? output.size() : nl;
    out += printable(output.substr(start, end - start)) + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace

HookRun run_hook(const std::string& command, int timeout_seconds, const std::string& job, const std::string& group,
                 const std::string& which) {
  HookRun run;
  const auto started = std::chrono::steady_clock::now();
  const std::string what = which + " command of group '" + group + "'";
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    run.status = errno_status(ErrorKind::kCommand, what + ": pipe", errno);
    return run;
  }
  UniqueFd out_read(p[0]), out_write(p[1]);
  ::fcntl(out_read.get(), F_SETFL, ::fcntl(out_read.get(), F_GETFL) | O_NONBLOCK);
  auto spawned = spawn_shell(command, out_write.get(), hook_environment(job, group, which));
  out_write.reset();
  if (!spawned.is_ok()) {
    run.status = spawned.status().with_context(what);
    return run;
  }
  const pid_t pid = spawned.value();
  const auto deadline = started + std::chrono::seconds(timeout_seconds);
  int wstatus = 0;
  bool exited = false, timed_out = false, pipe_open = true;
  // Until the shell exits (a child it left in the background may hold the
  // pipe open: its output is not waited for) or the time is up.
  while (!exited) {
    if (pipe_open) {
      pollfd fd{out_read.get(), POLLIN, 0};
      (void)::poll(&fd, 1, 100);
      pipe_open = read_some(out_read.get(), &run.output);
    } else {
      ::usleep(100 * 1000);
    }
    exited = ::waitpid(pid, &wstatus, WNOHANG) == pid;
    if (!exited && std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      (void)::waitpid(pid, &wstatus, 0);
      exited = timed_out = true;
    }
  }
  if (pipe_open) (void)read_some(out_read.get(), &run.output);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string said = printable(first_output_line(run.output));
  std::string tail = said.empty() ? "" : ": " + said;
  if (timed_out) {
    run.status =
        Status(ErrorKind::kCommand, what + " did not end within " + std::to_string(timeout_seconds) +
                                        " s and was killed (raise the group's hook-timeout if it needs longer)" + tail);
  } else if (WIFSIGNALED(wstatus)) {
    run.status =
        Status(ErrorKind::kCommand, what + " was killed by signal " + std::to_string(WTERMSIG(wstatus)) + tail);
  } else if (WEXITSTATUS(wstatus) != 0) {
    run.status =
        Status(ErrorKind::kCommand, what + " exited with status " + std::to_string(WEXITSTATUS(wstatus)) + tail);
  }
  run.output = escaped_lines(run.output);
  return run;
}

}  // namespace sparsync
