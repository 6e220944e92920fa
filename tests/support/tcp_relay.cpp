#include "support/tcp_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace sparsync::testing {
namespace {

// Closing with SO_LINGER {1, 0} sends RST instead of FIN: a dropped link.
void reset_close(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  ::close(fd);
}

int connect_local(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Writes all of buf; false when the peer is gone.
bool write_all_fd(int fd, const char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = ::send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

TcpRelay::TcpRelay(int upstream_port) : upstream_port_(upstream_port) {
  if (::pipe2(wake_, O_CLOEXEC) != 0) return;
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return;
  }
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpRelay::~TcpRelay() {
  stopping_.store(true);
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> pumps;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pumps.swap(pumps_);
  }
  for (auto& t : pumps) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int fd : wake_)
    if (fd >= 0) ::close(fd);
}

void TcpRelay::cut_after(uint64_t forward_bytes, uint64_t reverse_bytes) {
  cut_forward_.store(forward_bytes);
  cut_reverse_.store(reverse_bytes);
  armed_.store(forward_bytes != 0 || reverse_bytes != 0);
}

void TcpRelay::cut_now() { cut_now_generation_.fetch_add(1); }

void TcpRelay::accept_loop() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int upstream = connect_local(upstream_port_);
    if (upstream < 0) {
      ::close(client);
      continue;
    }
    connections_.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu_);
    pumps_.emplace_back([this, client, upstream] { pump(client, upstream); });
  }
}

void TcpRelay::pump(int client, int upstream) {
  const int generation = cut_now_generation_.load();
  uint64_t fwd = 0, rev = 0;
  char buf[64 * 1024];
  bool cut = false;
  for (;;) {
    if (stopping_.load() || cut_now_generation_.load() != generation) {
      cut = true;
      break;
    }
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    int rc = ::poll(fds, 2, 20);  // wakes to notice cut_now and stopping
    if (rc < 0 && errno != EINTR) break;
    if (rc <= 0) continue;
    bool closed = false;
    for (int i = 0; i < 2 && !closed && !cut; ++i) {
      if (fds[i].revents == 0) continue;
      int from = i == 0 ? client : upstream;
      int to = i == 0 ? upstream : client;
      // Read no more than the limit allows, so the cut lands on the exact byte.
      size_t want = sizeof(buf);
      uint64_t limit = i == 0 ? cut_forward_.load() : cut_reverse_.load();
      uint64_t& count = i == 0 ? fwd : rev;
      if (armed_.load() && limit != 0 && limit - std::min(limit, count) < want) {
        want = static_cast<size_t>(limit - std::min(limit, count));
      }
      ssize_t n = want == 0 ? 0 : ::recv(from, buf, want, 0);
      if (want != 0 && n < 0 && errno == EINTR) continue;
      if (want != 0 && n <= 0) {
        closed = true;
        break;
      }
      if (n > 0) {
        if (!write_all_fd(to, buf, static_cast<size_t>(n))) {
          closed = true;
          break;
        }
        count += static_cast<uint64_t>(n);
        (i == 0 ? forward_total_ : reverse_total_).fetch_add(static_cast<uint64_t>(n));
      }
      if (limit != 0 && count >= limit) {
        bool expected = true;
        if (armed_.compare_exchange_strong(expected, false)) cut = true;
      }
    }
    if (closed || cut) break;
  }
  if (cut) {
    forward_at_cut_.store(fwd);
    reverse_at_cut_.store(rev);
    cuts_.fetch_add(1);
    reset_close(client);
    reset_close(upstream);
  } else {
    ::close(client);
    ::close(upstream);
  }
}

}  // namespace sparsync::testing
