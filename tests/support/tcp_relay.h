// TcpRelay: a TCP forwarder on 127.0.0.1 (ephemeral port) to another local
// port, for cutting a live link in tests. It counts the bytes of each
// direction ("forward": client to upstream; "reverse": upstream to client)
// and, when armed, resets both sockets of the connection that passes the
// limit (SO_LINGER 0, so each side sees ECONNRESET, as after a dropped link).
// An arming is used once; later connections are forwarded normally, so an
// automatic retry can reconnect through the relay.
// Thread-safety: all public methods are thread-safe; one thread accepts and
// one pumps each connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sparsync::testing {

class TcpRelay {
 public:
  // Starts listening; port() is 0 when that failed.
  explicit TcpRelay(int upstream_port);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const { return port_; }
  // Cut the first connection whose forward (or reverse) byte count reaches
  // the limit; 0 disables that direction.
  void cut_after(uint64_t forward_bytes, uint64_t reverse_bytes);
  // Cut every open connection now.
  void cut_now();

  uint64_t forward_bytes() const { return forward_total_.load(); }
  uint64_t reverse_bytes() const { return reverse_total_.load(); }
  int connections() const { return connections_.load(); }
  int cuts() const { return cuts_.load(); }
  // Bytes of each direction the cut connection had carried when cut.
  uint64_t forward_at_cut() const { return forward_at_cut_.load(); }
  uint64_t reverse_at_cut() const { return reverse_at_cut_.load(); }

 private:
  void accept_loop();
  void pump(int client, int upstream);

  int upstream_port_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> forward_total_{0}, reverse_total_{0};
  std::atomic<uint64_t> forward_at_cut_{0}, reverse_at_cut_{0};
  std::atomic<int> connections_{0}, cuts_{0};
  std::atomic<uint64_t> cut_forward_{0}, cut_reverse_{0};
  std::atomic<bool> armed_{false};
  std::atomic<int> cut_now_generation_{0};
  std::mutex mu_;
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace sparsync::testing
