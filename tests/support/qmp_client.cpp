#include "support/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace sparsync::testing {
namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

std::unique_ptr<QmpClient> QmpClient::connect(const std::string& socket_path, double seconds, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    *error = "socket path too long: " + socket_path;
    return nullptr;
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  const auto deadline = after(seconds);
  std::unique_ptr<QmpClient> client(new QmpClient());
  for (;;) {
    client->fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(client->fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) break;
    if (Clock::now() >= deadline) {
      *error = "cannot connect to " + socket_path + ": " + std::strerror(errno);
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  nlohmann::json greeting;
  if (!client->next_message(deadline, &greeting, error)) return nullptr;
  if (!greeting.contains("QMP")) {
    *error = "no QMP greeting: " + greeting.dump();
    return nullptr;
  }
  Reply caps = client->execute("qmp_capabilities");
  if (!caps.ok) {
    *error = "qmp_capabilities: " + caps.error;
    return nullptr;
  }
  return client;
}

bool QmpClient::next_message(Clock::time_point deadline, nlohmann::json* out, std::string* error) {
  for (;;) {
    const size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      const std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      *out = nlohmann::json::parse(line, nullptr, false);
      if (out->is_discarded()) {
        *error = "not JSON: " + line;
        return false;
      }
      return true;
    }
    pollfd p{fd_.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      *error = "no answer in time";
      return false;
    }
    char buf[4096];
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = "the monitor closed the connection";
      return false;
    }
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

QmpClient::Reply QmpClient::execute(const std::string& command, const nlohmann::json& arguments, double seconds) {
  Reply reply;
  nlohmann::json request{{"execute", command}};
  if (!arguments.empty()) request["arguments"] = arguments;
  const std::string text = request.dump() + "\n";
  if (write_full(fd_.get(), text.data(), text.size()) != 0) {
    reply.error = "cannot send " + command;
    return reply;
  }
  const auto deadline = after(seconds);
  for (;;) {
    nlohmann::json message;
    if (!next_message(deadline, &message, &reply.error)) {
      reply.error = command + ": " + reply.error;
      return reply;
    }
    if (message.contains("return")) {
      reply.ok = true;
      reply.value = message["return"];
      return reply;
    }
    if (message.contains("error")) {
      const nlohmann::json& e = message["error"];
      reply.error = e.value("class", std::string("?")) + ": " + e.value("desc", std::string("?"));
      return reply;
    }
    // An event ({"event": ...}): not the answer.
  }
}

}  // namespace sparsync::testing
