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

// An SshTransport on a pooled session; tells the pool when the session broke.
class PooledTransport : public Transport {
 public:
  PooledTransport(std::unique_ptr<SshTransport> inner, SshConnectionPool* pool, std::string key)
      : inner_(std::move(inner)), connection_(&inner_->connection()), pool_(pool), key_(std::move(key)) {}

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
    // No exit status came over the session: it may be gone.
    if (inner_->exit_status() < 0) pool_->forget(key_, connection_);
    return s;
  }
  void abandon() override {
    inner_->abandon();
    pool_->forget(key_, connection_);
  }
  std::string peer_name() const override { return inner_->peer_name(); }

 private:
  std::unique_ptr<SshTransport> inner_;
  const SshConnection* connection_;  // for forget(): compared, never used
  SshConnectionPool* pool_;
  std::string key_;
};

}  // namespace

void SshConnectionPool::forget(const std::string& key, const SshConnection* connection) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(key);
  if (it != hosts_.end() && it->second.connection.get() == connection) it->second.connection.reset();
}

int SshConnectionPool::logins() const {
  std::lock_guard<std::mutex> lock(mu_);
  return logins_;
}

Result<std::unique_ptr<Transport>> SshConnectionPool::open(const SshOptions& options) {
  const std::string key = pool_key(options);
  std::shared_ptr<SshConnection> shared;
  {
    // Syncs that start together wait for the first one's login (bounded by
    // its connect timeout) instead of each logging in.
    std::unique_lock<std::mutex> lock(mu_);
    login_done_.wait(lock, [&] { return !hosts_[key].logging_in; });
    shared = hosts_[key].connection;
    if (!shared) hosts_[key].logging_in = true;
  }
  if (!shared) return log_in(options, key);
  const std::string host = shared->peer_name();
  auto started = start_ssh_transport(shared);
  if (started.is_ok()) return std::unique_ptr<Transport>(new PooledTransport(started.take(), this, key));
  // A session the far side or the link dropped meanwhile: log in again.
  if (started.status().kind() != ErrorKind::kConnection) return started.status();
  log::verbose("the connection to " + host + " failed (" + started.status().message() + "); logging in again");
  forget(key, shared.get());
  return open(options);
}

Result<std::unique_ptr<Transport>> SshConnectionPool::log_in(const SshOptions& options, const std::string& key) {
  // However this ends (an exception included: a thread that cannot be
  // started), the syncs waiting for this login are let go.
  struct LoginEnds {
    SshConnectionPool* pool;
    std::string key;
    ~LoginEnds() {
      {
        std::lock_guard<std::mutex> lock(pool->mu_);
        pool->hosts_[key].logging_in = false;
      }
      pool->login_done_.notify_all();
    }
  } ends{this, key};
  auto opened = SshConnection::open(options);
  // Handed over alone: start_ssh_transport may upload on a connection no
  // one else holds.
  Result<std::unique_ptr<SshTransport>> started =
      opened.is_ok() ? start_ssh_transport(std::shared_ptr<SshConnection>(opened.take()))
                     : Result<std::unique_ptr<SshTransport>>(opened.status());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (opened.is_ok()) ++logins_;
    Host& host = hosts_[key];
    if (started.is_ok() && !started.value()->uploaded()) host.connection = started.value()->shared_connection();
  }
  if (!started.is_ok()) return started.status();
  return std::unique_ptr<Transport>(new PooledTransport(started.take(), this, key));
}

}  // namespace sparsync
