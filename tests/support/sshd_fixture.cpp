#include "support/sshd_fixture.h"

#include "support/files.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace sparsync::testing {
namespace {

constexpr const char* kSshd = "/usr/sbin/sshd";
constexpr const char* kKeygen = "/usr/bin/ssh-keygen";

bool keygen(const std::string& path, std::string* why_not) {
  CommandResult r = run_command({kKeygen, "-q", "-t", "ed25519", "-N", "", "-C", "sparsync-test", "-f", path});
  if (r.exit_code != 0) {
    *why_not = "ssh-keygen failed: " + r.err;
    return false;
  }
  return true;
}

// Asks the kernel for a free port; sshd binds it right after. The window for
// another process to take it is small, and a clash shows as a skip, not a failure.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::unique_ptr<SshdFixture> SshdFixture::start(std::string* why_not) {
  if (::access(kSshd, X_OK) != 0) {
    *why_not = std::string(kSshd) + " is not installed";
    return nullptr;
  }
  if (::access(kKeygen, X_OK) != 0) {
    *why_not = std::string(kKeygen) + " is not installed";
    return nullptr;
  }
  std::unique_ptr<SshdFixture> f(new SshdFixture());
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/sparsync-sshd.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    *why_not = "mkdtemp failed";
    return nullptr;
  }
  f->dir_ = tmpl;
  ::mkdir(f->home().c_str(), 0700);
  ::mkdir(f->far_tmpdir().c_str(), 0700);
  ::mkdir((f->home() + "/.ssh").c_str(), 0700);
  for (const char* key : {"host_key", "other_host_key", "client_key", "wrong_key"}) {
    if (!keygen(f->file(key), why_not)) return nullptr;
  }
  write_text(f->file("authorized_keys"), read_text(f->file("client_key.pub")));
  write_text(f->file("ssh_config"), "");
  write_text(f->known_hosts(), "");
  // sshd refuses to start without its privilege separation directory.
  ::mkdir("/run/sshd", 0755);
  f->port_ = free_port();
  if (f->port_ == 0) {
    *why_not = "no free port on 127.0.0.1";
    return nullptr;
  }
  std::ostringstream cfg;
  cfg << "Port " << f->port_ << "\n"
      << "ListenAddress 127.0.0.1\n"
      // Also ::1 for [::1]:path tests; sshd runs on when only one address binds.
      << "ListenAddress ::1\n"
      << "HostKey " << f->file("host_key") << "\n"
      << "AuthorizedKeysFile " << f->file("authorized_keys") << "\n"
      << "PidFile " << f->file("sshd.pid") << "\n"
      << "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
      << "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
      << "SetEnv TMPDIR=" << f->far_tmpdir() << "\n"
      << "LogLevel VERBOSE\n";
  write_text(f->file("sshd_config"), cfg.str());
  std::string log = f->file("sshd.log");
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::string config = f->file("sshd_config");
    ::execl(kSshd, kSshd, "-D", "-e", "-f", config.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  f->pid_ = pid;
  // Generous: a test skipped because sshd started slowly under load would
  // hide lost coverage.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (accepts(f->port_)) return f;
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      f->pid_ = -1;
      *why_not = "sshd exited at start: " + read_text(log);
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *why_not = "sshd did not accept connections within 20 s: " + read_text(log);
  return nullptr;
}

SshdFixture::~SshdFixture() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  if (!dir_.empty() && std::getenv("SPARSYNC_KEEP_SSHD_DIR") == nullptr) {
    run_command({"/bin/rm", "-rf", "--", dir_});
  }
}

std::string SshdFixture::host_key_line() const {
  return "[127.0.0.1]:" + std::to_string(port_) + " " + read_text(file("host_key.pub"));
}

void SshdFixture::trust_host_key() const { write_text(known_hosts(), host_key_line()); }

void SshdFixture::trust_other_host_key() const {
  write_text(known_hosts(), "[127.0.0.1]:" + std::to_string(port_) + " " + read_text(file("other_host_key.pub")));
}

void SshdFixture::force_command(const std::string& command) const {
  write_text(file("authorized_keys"), "command=\"" + command + "\",restrict " + read_text(file("client_key.pub")));
}

std::vector<std::string> SshdFixture::ssh_args() const {
  return {"-p",
          std::to_string(port_),
          "-i",
          client_key(),
          "-F",
          file("ssh_config"),
          "--known-hosts",
          known_hosts(),
          "--batch",
          "--remote-path",
          SPARSYNC_BINARY};
}

CommandResult SshdFixture::run(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"/usr/bin/env", "-u", "SSH_AUTH_SOCK", "HOME=" + home(), SPARSYNC_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

}  // namespace sparsync::testing
