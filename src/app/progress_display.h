// The live progress of a run, for a person or a log (docs/usage.md "Progress").
// A display thread samples `Progress` (the engines' counters) a few times a
// second and either
//   - kTerminal: keeps one line on stderr, redrawn in place with '\r' and
//     cleared with "\r\033[K" when the display stops; while it runs it is the
//     log's sink, so a log line clears the progress, prints, and redraws;
//   - kPlain: writes a newline-terminated line without escape codes every
//     `interval` seconds and once when it stops (for cron logs);
//   - kOff: draws nothing.
// progress_text() is the pure formatter the thread uses.
// Thread-safety: start()/stop() from one thread; the display thread only
// reads the atomics in Progress.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "common/progress.h"

namespace sparsync {

// One sample of the counters plus what the display derived from them.
struct ProgressSample {
  Phase phase = Phase::kConnecting;
  uint64_t total = 0;
  uint64_t resumed_from = 0;
  uint64_t scanned = 0;
  uint64_t data_bytes = 0;
  uint64_t hole_bytes = 0;
  uint64_t verified = 0;    // --verify: bytes hashed
  double rate = 0;          // bytes scanned (verifying: hashed) per second in this phase; 0 unknown
  double eta_seconds = -1;  // < 0: unknown
};

// "syncing 412 MiB of 1.00 GiB scanned (40%), 12.0 MiB sent, 380 MiB/s,
// ETA 0:02" (", 2.00 MiB as holes" after "sent" once there are any);
// "connecting"; "flushing ...", "done ..."; and --verify's own pass,
// "verifying 256 MiB of 1.00 GiB read (25%), 400 MiB/s, ETA 0:02".
std::string progress_text(const ProgressSample& sample);
// "0:07", "12:05", "1:02:03"
std::string format_duration(double seconds);
const char* phase_name(Phase phase);

class ProgressDisplay {
 public:
  enum class Mode { kOff, kTerminal, kPlain };

  // `fd` is where the line goes (stderr); `interval` is seconds between plain
  // lines (the terminal line is redrawn every 0.2 s).
  ProgressDisplay(const Progress& progress, Mode mode, double interval, int fd);
  ~ProgressDisplay();  // stop()
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  void start();
  // Draws the last state once more, then clears the terminal line (kTerminal)
  // or writes a final plain line (kPlain). Idempotent.
  void stop();

 private:
  void run();
  ProgressSample sample();
  void hold_for_prompt(bool prompting);
  void draw_terminal(const ProgressSample& s);   // needs mu_
  void write_log_line(const std::string& text);  // the log sink
  void write_all(const std::string& bytes) const;

  const Progress& progress_;
  Mode mode_;
  double interval_;
  int fd_;
  std::mutex mu_;  // the terminal line and everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_ = false;
  bool line_shown_ = false;
  bool held_ = false;  // a prompt is up: draw nothing
  std::string line_;   // what is on the terminal now
  bool syncing_seen_ = false;
  std::chrono::steady_clock::time_point sync_start_;
  uint64_t sync_start_scanned_ = 0;
  bool verify_seen_ = false;  // the sync's rate stops where verification starts
  std::chrono::steady_clock::time_point verify_start_;
  std::thread thread_;
};

// -q shows none; a terminal on stderr gets the live line; otherwise plain
// lines only when asked for (--progress).
ProgressDisplay::Mode choose_progress_mode(int verbosity, bool progress_flag, bool stderr_is_tty);

// Width of the terminal on stderr, else stdout; 0 when neither is one.
size_t terminal_columns();

}  // namespace sparsync
