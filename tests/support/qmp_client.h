// A small QMP client (QEMU Machine Protocol, over a Unix socket) for tests
// that drive qemu-storage-daemon as the stand-in for a running VM: it reads
// the greeting, negotiates capabilities (qmp_capabilities), then sends one
// command at a time and returns its "return" value or its "error", skipping
// the asynchronous events in between. Every wait is bounded.
// Thread-safety: none; one owner.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/unique_fd.h"

namespace sparsync::testing {

class QmpClient {
 public:
  // Connects to the monitor at `socket_path`, retrying while it does not
  // accept yet, for up to `seconds`; null with `*error` set on failure.
  static std::unique_ptr<QmpClient> connect(const std::string& socket_path, double seconds, std::string* error);

  struct Reply {
    bool ok = false;
    nlohmann::json value;  // the "return" value when ok
    std::string error;     // the error's class and description, or what went wrong
  };
  // {"execute": command, "arguments": arguments}; waits up to `seconds`.
  Reply execute(const std::string& command, const nlohmann::json& arguments = nlohmann::json::object(),
                double seconds = 10);

 private:
  QmpClient() = default;
  // The next message (one JSON object per line); false at end or past the
  // deadline.
  bool next_message(std::chrono::steady_clock::time_point deadline, nlohmann::json* out, std::string* error);

  UniqueFd fd_;
  std::string buffer_;
};

}  // namespace sparsync::testing
