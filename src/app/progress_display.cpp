#include "app/progress_display.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/log.h"
#include "common/units.h"
#include "transport/terminal_prompt.h"

namespace sparsync {
namespace {

constexpr auto kTerminalPeriod = std::chrono::milliseconds(200);
constexpr const char* kClear = "\r\033[K";

size_t columns_of(int fd) {
  winsize ws{};
  if (::isatty(fd) == 0 || ::ioctl(fd, TIOCGWINSZ, &ws) != 0) return 0;
  return ws.ws_col;
}

}  // namespace

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kConnecting:
      return "connecting";
    case Phase::kSyncing:
      return "syncing";
    case Phase::kFlushing:
      return "flushing";
    case Phase::kVerifying:
      return "verifying";
    case Phase::kDone:
      return "done";
  }
  return "working";
}

std::string format_duration(double seconds) {
  auto s = static_cast<uint64_t>(seconds < 0 ? 0 : seconds + 0.5);
  char buf[48];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%llu:%02llu", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  }
  return buf;
}

// --verify reads the whole image again, once the sync's figures are final.
std::string verify_text(const ProgressSample& p) {
  std::string t = "verifying ";
  t += format_bytes(p.verified);
  t += " of ";
  t += format_bytes(p.total);
  t += " read";
  if (p.total > 0) {
    t += " (" + std::to_string(p.verified >= p.total ? 100 : p.verified * 100 / p.total) + "%)";
  }
  if (p.rate > 0) t += ", " + format_rate(p.rate);
  if (p.eta_seconds >= 0) t += ", ETA " + format_duration(p.eta_seconds);
  return t;
}

std::string progress_text(const ProgressSample& p) {
  std::string t = phase_name(p.phase);
  if (p.phase == Phase::kConnecting) return t;
  if (p.phase == Phase::kVerifying) return verify_text(p);
  // Appended piece by piece (GCC 12 -Wrestrict false positive on " " + string&&).
  t += ' ';
  t += format_bytes(p.scanned);
  t += " of ";
  t += format_bytes(p.total);
  t += " scanned";
  if (p.total > 0) {
    uint64_t pct = p.scanned >= p.total
                       ? 100
                       : static_cast<uint64_t>(static_cast<double>(p.scanned) * 100.0 / static_cast<double>(p.total));
    t += " (" + std::to_string(pct) + "%)";
  }
  t += ", " + format_bytes(p.data_bytes) + " sent";
  if (p.hole_bytes > 0) t += ", " + format_bytes(p.hole_bytes) + " as holes";
  if (p.rate > 0) t += ", " + format_rate(p.rate);
  if (p.phase == Phase::kSyncing && p.eta_seconds >= 0) t += ", ETA " + format_duration(p.eta_seconds);
  return t;
}

ProgressDisplay::Mode choose_progress_mode(int verbosity, bool progress_flag, bool stderr_is_tty) {
  if (verbosity < 0) return ProgressDisplay::Mode::kOff;
  if (stderr_is_tty) return ProgressDisplay::Mode::kTerminal;
  return progress_flag ? ProgressDisplay::Mode::kPlain : ProgressDisplay::Mode::kOff;
}

size_t terminal_columns() {
  size_t cols = columns_of(STDERR_FILENO);
  return cols != 0 ? cols : columns_of(STDOUT_FILENO);
}

ProgressDisplay::ProgressDisplay(const Progress& progress, Mode mode, double interval, int fd)
    : progress_(progress), mode_(mode), interval_(interval > 0 ? interval : 5), fd_(fd) {}

ProgressDisplay::~ProgressDisplay() { stop(); }

void ProgressDisplay::start() {
  if (mode_ == Mode::kOff || started_) return;
  started_ = true;
  if (mode_ == Mode::kTerminal) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      draw_terminal(sample());
    }
    log::set_sink([this](const std::string& text) { write_log_line(text); });
    set_prompt_guard([this](bool prompting) { hold_for_prompt(prompting); });
  }
  thread_ = std::thread([this] { run(); });
}

void ProgressDisplay::stop() {
  if (!started_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  ProgressSample last = sample();
  if (mode_ == Mode::kTerminal) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // The final state is drawn once, then cleared: the summary follows.
      draw_terminal(last);
      write_all(kClear);
      line_shown_ = false;
    }
    log::set_sink(nullptr);
    set_prompt_guard(nullptr);
  } else {
    log::info(progress_text(last));
  }
}

void ProgressDisplay::run() {
  const auto period =
      mode_ == Mode::kTerminal
          ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(kTerminalPeriod)
          : std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(interval_));
  auto next = std::chrono::steady_clock::now() + period;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (cv_.wait_until(lock, next, [this] { return stopping_; })) break;
    next += period;
    ProgressSample s = sample();
    if (mode_ == Mode::kTerminal) {
      draw_terminal(s);
    } else {
      // log::info may go through a sink; never call it holding mu_.
      lock.unlock();
      log::info(progress_text(s));
      lock.lock();
    }
  }
}

ProgressSample ProgressDisplay::sample() {
  ProgressSample s;
  s.phase = progress_.get_phase();
  s.total = progress_.total.load();
  s.resumed_from = progress_.resumed_from.load();
  s.scanned = progress_.scanned.load();
  s.data_bytes = progress_.data_bytes.load();
  s.hole_bytes = progress_.hole_bytes.load();
  s.verified = progress_.verified.load();
  auto now = std::chrono::steady_clock::now();
  if (s.phase != Phase::kConnecting && !syncing_seen_) {
    syncing_seen_ = true;
    sync_start_ = now;
    sync_start_scanned_ = s.scanned;
  }
  if ((s.phase == Phase::kVerifying || s.verified > 0) && !verify_seen_) {
    verify_seen_ = true;
    verify_start_ = now;
  }
  if (s.phase == Phase::kVerifying) {
    double verifying = std::chrono::duration<double>(now - verify_start_).count();
    if (verifying >= 0.5 && s.verified > 0) {
      s.rate = static_cast<double>(s.verified) / verifying;
      if (s.total >= s.verified) s.eta_seconds = static_cast<double>(s.total - s.verified) / s.rate;
    }
    return s;
  }
  double elapsed =
      syncing_seen_ ? std::chrono::duration<double>((verify_seen_ ? verify_start_ : now) - sync_start_).count() : 0;
  // A rate over less than half a second says little.
  if (elapsed >= 0.5 && s.scanned > sync_start_scanned_) {
    s.rate = static_cast<double>(s.scanned - sync_start_scanned_) / elapsed;
    if (s.total >= s.scanned) s.eta_seconds = static_cast<double>(s.total - s.scanned) / s.rate;
  }
  return s;
}

// A passphrase prompt is on the terminal (transport/terminal_prompt.h): the
// line would overdraw it, and the run would look hung.
void ProgressDisplay::hold_for_prompt(bool prompting) {
  std::lock_guard<std::mutex> lock(mu_);
  held_ = prompting;
  if (prompting && line_shown_) {
    write_all(kClear);
    line_shown_ = false;
  }
}

void ProgressDisplay::draw_terminal(const ProgressSample& s) {
  if (held_) return;
  std::string text = progress_text(s);
  // One column short of the width: writing the last column wraps on some
  // terminals, and a wrapped line cannot be redrawn with '\r'.
  size_t cols = columns_of(fd_);
  if (cols > 1 && text.size() > cols - 1) text.resize(cols - 1);
  line_ = text;
  line_shown_ = true;
  write_all("\r" + text + "\033[K");
}

void ProgressDisplay::write_log_line(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!line_shown_) {
    write_all(text);
    return;
  }
  // Clear, print the log line, and put the progress back under it.
  write_all(kClear + text + "\r" + line_ + "\033[K");
}

void ProgressDisplay::write_all(const std::string& bytes) const {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed terminal is not worth failing the sync
    done += static_cast<size_t>(n);
  }
}

}  // namespace sparsync
