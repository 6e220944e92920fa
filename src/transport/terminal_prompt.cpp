#include "transport/terminal_prompt.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <utility>

#include "common/unique_fd.h"

namespace sparsync {
namespace {

std::mutex g_guard_mu;
std::function<void(bool)> g_guard;

void tell_guard(bool prompting) {
  std::function<void(bool)> guard;
  {
    std::lock_guard<std::mutex> lock(g_guard_mu);
    guard = g_guard;
  }
  if (guard) guard(prompting);
}

bool write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// One byte at a time up to CR or LF, so it works whether the terminal is in
// line mode or raw (as a test's pty may be); nothing past the line is taken.
bool read_line(int fd, std::string* line) {
  line->clear();
  for (;;) {
    char c = 0;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (c == '\n' || c == '\r') return true;
    if (line->size() < 1024) line->push_back(c);
  }
}

}  // namespace

void set_prompt_guard(std::function<void(bool prompting)> guard) {
  std::lock_guard<std::mutex> lock(g_guard_mu);
  g_guard = std::move(guard);
}

bool ask_on_terminal(const std::string& prompt, bool echo, std::string* answer) {
  UniqueFd tty(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!tty.valid()) return false;
  termios saved{};
  bool restore = !echo && ::tcgetattr(tty.get(), &saved) == 0;
  if (restore) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
    ::tcsetattr(tty.get(), TCSAFLUSH, &quiet);
  }
  tell_guard(true);
  bool ok = write_all(tty.get(), prompt) && read_line(tty.get(), answer);
  if (restore) ::tcsetattr(tty.get(), TCSAFLUSH, &saved);
  if (!echo) (void)write_all(tty.get(), "\n");  // the Enter the person typed was not echoed
  tell_guard(false);
  return ok;
}

}  // namespace sparsync
