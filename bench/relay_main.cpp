// sparsync_bench_relay: a counting TCP relay on 127.0.0.1 for scripts/bench.
// It forwards every accepted connection to an upstream port (the benchmark's
// sshd), counts the bytes of each direction ("forward": client to upstream,
// "reverse": upstream to client) outside the tools being measured, and can
// hold every chunk for a fixed one-way delay to emulate a long link.
//
// The delay must not limit bandwidth, so each direction has a reader that
// stamps chunks with their arrival time and queues them, and a writer that
// sends each chunk once its time has come; nothing sleeps per read. The queue
// is bounded (kMaxQueued) so a slow receiver still pushes back on the sender.
//
// Control is line based on stdin/stdout, so a shell can drive it over FIFOs:
//   on start it prints        "port N"
//   "dump"  waits until no connection is open (at most 10 s), then prints
//           "forward F reverse R connections C" for the bytes since the last
//           dump, and resets the counters
//   "quit"  (or end of input) exits
// Usage: sparsync_bench_relay --upstream PORT [--delay-ms N] [--port N]
// Thread-safety: one acceptor thread, two threads per connection direction;
// counters are atomics.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kChunk = 256 * 1024;
constexpr size_t kMaxQueued = 64u * 1024 * 1024;

std::atomic<uint64_t> g_forward{0}, g_reverse{0};
std::atomic<int> g_connections{0}, g_open{0};

struct Chunk {
  Clock::time_point due;
  std::vector<char> bytes;
};

// One direction of one connection: src -> queue -> dst.
class Direction {
 public:
  Direction(int src, int dst, Clock::duration delay, std::atomic<uint64_t>* counter)
      : src_(src), dst_(dst), delay_(delay), counter_(counter) {}

  void run() {
    std::thread writer([this] { write_loop(); });
    read_loop();
    writer.join();
  }

 private:
  void read_loop() {
    for (;;) {
      std::vector<char> buf(kChunk);
      ssize_t n = ::recv(src_, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buf.resize(static_cast<size_t>(n));
      counter_->fetch_add(static_cast<uint64_t>(n));
      std::unique_lock<std::mutex> lock(mu_);
      space_.wait(lock, [this] { return queued_ < kMaxQueued || failed_; });
      if (failed_) break;
      queued_ += buf.size();
      queue_.push_back(Chunk{Clock::now() + delay_, std::move(buf)});
      ready_.notify_one();
    }
    std::lock_guard<std::mutex> lock(mu_);
    eof_ = true;
    ready_.notify_one();
  }

  void write_loop() {
    for (;;) {
      Chunk c;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [this] { return !queue_.empty() || eof_; });
        if (queue_.empty()) break;
        c = std::move(queue_.front());
        queue_.pop_front();
      }
      std::this_thread::sleep_until(c.due);  // a no-op once the pipe is full
      if (!send_all(c.bytes)) {
        std::lock_guard<std::mutex> lock(mu_);
        failed_ = true;
        space_.notify_all();
        ::shutdown(src_, SHUT_RD);
        break;
      }
      std::lock_guard<std::mutex> lock(mu_);
      queued_ -= c.bytes.size();
      space_.notify_one();
    }
    ::shutdown(dst_, SHUT_WR);  // pass the EOF on
  }

  bool send_all(const std::vector<char>& b) {
    size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::send(dst_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  int src_, dst_;
  Clock::duration delay_;
  std::atomic<uint64_t>* counter_;
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<Chunk> queue_;
  size_t queued_ = 0;
  bool eof_ = false;
  bool failed_ = false;
};

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

void serve(int client, int upstream_port, Clock::duration delay) {
  int upstream = connect_local(upstream_port);
  if (upstream < 0) {
    ::close(client);
    g_open.fetch_sub(1);
    return;
  }
  int one = 1;
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  Direction fwd(client, upstream, delay, &g_forward);
  Direction rev(upstream, client, delay, &g_reverse);
  std::thread t([&rev] { rev.run(); });
  fwd.run();
  t.join();
  ::close(client);
  ::close(upstream);
  g_open.fetch_sub(1);
}

int listen_on(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("relay: listen");
    std::exit(1);
  }
  std::printf("port %d\n", ntohs(a.sin_port));
  std::fflush(stdout);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  int upstream = 0, port = 0;
  long delay_ms = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string opt = argv[i];
    long v = std::strtol(argv[i + 1], nullptr, 10);
    if (opt == "--upstream")
      upstream = static_cast<int>(v);
    else if (opt == "--delay-ms")
      delay_ms = v;
    else if (opt == "--port")
      port = static_cast<int>(v);
    else {
      std::fprintf(stderr, "relay: unknown option %s\n", opt.c_str());
      return 2;
    }
  }
  if (upstream <= 0) {
    std::fprintf(stderr, "usage: %s --upstream PORT [--delay-ms N] [--port N]\n", argv[0]);
    return 2;
  }
  int lfd = listen_on(port);
  const auto delay = std::chrono::milliseconds(delay_ms);
  std::thread([lfd, upstream, delay] {
    for (;;) {
      int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      g_connections.fetch_add(1);
      g_open.fetch_add(1);
      std::thread(serve, c, upstream, delay).detach();
    }
  }).detach();

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "quit") break;
    if (line != "dump") continue;
    auto give_up = Clock::now() + std::chrono::seconds(10);
    while (g_open.load() > 0 && Clock::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::printf("forward %llu reverse %llu connections %d open %d\n",
                static_cast<unsigned long long>(g_forward.exchange(0)),
                static_cast<unsigned long long>(g_reverse.exchange(0)), g_connections.exchange(0), g_open.load());
    std::fflush(stdout);
  }
  std::fflush(stdout);
  std::_Exit(0);  // detached pump threads may still hold sockets
}
