#include "transport/ssh_connection_pool.h"

#include "common/log.h"
#include "transport/ssh_runner.h"
#include "transport/ssh_transport.h"

namespace sparsync {
namespace {

// Connections are shared only between syncs that would have opened the same
// one: every option that shapes the session or the far command is part of it.
std::string pool_key(const SshOptions& o) {
  std::string key;
  auto add = [&key](const std::string& field) { key += std::to_string(field.size()) + ":" + field; };
  for (const std::string& field :
       {o.host, o.user, o.config_file, o.jump, o.proxy_command, o.known_hosts, o.remote_path}) {
    add(field);
  }
  for (const std::string& identity : o.identities) add(identity);
  for (int n : {o.port, o.connect_timeout, o.keepalive, o.timeout, o.verbosity, o.accept_new_host_key ? 1 : 0,
                o.batch ? 1 : 0, o.sudo ? 1 : 0, o.upload ? 1 : 0}) {
    add(std::to_string(n));
  }
  return key;
}

// An SshTransport whose connection goes back to the pool once the far
// command has ended with an exit status, instead of being closed.
class PooledTransport : public Transport {
 public:
  PooledTransport(std::unique_ptr<SshTransport> inner, SshConnectionPool* pool, std::string key)
      : inner_(std::move(inner)), pool_(pool), key_(std::move(key)) {}

  int read_fd() override { return inner_->read_fd(); }
  int write_fd() override { return inner_->write_fd(); }
  Status hello(FrameReader& in, FrameWriter& out, uint64_t* features) override {
    return inner_->hello(in, out, features);
  }
  int lane_capacity() const override { return inner_->lane_capacity(); }
  Result<int> open_lanes(const proto::Lanes& offer, uint16_t count) override {
    return inner_->open_lanes(offer, count);
  }
  void close_write() override { inner_->close_write(); }
  Status finish() override {
    Status s = inner_->finish();
    // An exit status came over the session: it is sound, and its channel
    // is freed (finish ends it), so another sync may use it.
    if (inner_->exit_status() >= 0) pool_->give_back(key_, inner_->take_connection());
    return s;
  }
  void abandon() override { inner_->abandon(); }
  std::string peer_name() const override { return inner_->peer_name(); }

 private:
  std::unique_ptr<SshTransport> inner_;
  SshConnectionPool* pool_;
  std::string key_;
};

}  // namespace

std::unique_ptr<SshConnection> SshConnectionPool::take_idle(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  std::unique_ptr<SshConnection> c = std::move(it->second.back());
  it->second.pop_back();
  return c;
}

void SshConnectionPool::give_back(const std::string& key, std::unique_ptr<SshConnection> connection) {
  if (!connection) return;
  std::lock_guard<std::mutex> lock(mu_);
  idle_[key].push_back(std::move(connection));
}

int SshConnectionPool::logins() const {
  std::lock_guard<std::mutex> lock(mu_);
  return logins_;
}

Result<std::unique_ptr<Transport>> SshConnectionPool::open(const SshOptions& options) {
  const std::string key = pool_key(options);
  if (std::unique_ptr<SshConnection> idle = take_idle(key)) {
    const std::string host = idle->peer_name();
    auto started = start_ssh_transport(std::move(idle));
    if (started.is_ok()) return std::unique_ptr<Transport>(new PooledTransport(started.take(), this, key));
    // An idle session the far side or the link dropped meanwhile: log in again.
    if (started.status().kind() != ErrorKind::kConnection) return started.status();
    log::verbose("the idle connection to " + host + " failed (" + started.status().message() + "); logging in again");
  }
  auto opened = SshConnection::open(options);
  if (!opened.is_ok()) return opened.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++logins_;
  }
  auto started = start_ssh_transport(opened.take());
  if (!started.is_ok()) return started.status();
  return std::unique_ptr<Transport>(new PooledTransport(started.take(), this, key));
}

}  // namespace sparsync
