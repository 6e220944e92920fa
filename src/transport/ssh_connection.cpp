#include "transport/ssh_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/log.h"
#include "common/printable.h"
#include "transport/ssh_config_lookup.h"
#include "transport/ssh_hop.h"
#include "transport/ssh_key_auth.h"
#include "transport/terminal_prompt.h"

namespace sparsync {
namespace {

// libssh asks here while publickey_auto loads a key that needs a passphrase,
// saying only "Passphrase" and not which key: refused, so that auto tries
// the agent and the keys that need none; authenticate() then asks for the
// others by name (transport/ssh_key_auth.h).
int refuse_passphrase(const char*, char*, size_t, int, int, void*) { return -1; }

std::string home_dir() {
  const char* home = std::getenv("HOME");
  return home != nullptr ? std::string(home) : std::string();
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string session_string(ssh_session s, ssh_options_e what) {
  char* value = nullptr;
  if (ssh_options_get(s, what, &value) != SSH_OK || value == nullptr) return "";
  std::string out(value);
  ssh_string_free_char(value);
  return out;
}

// A dead peer must not hang a nightly job: TCP keepalives notice a quiet dead
// link, TCP_USER_TIMEOUT one that swallows our data without acknowledging it.
void set_tcp_keepalive(int fd, int seconds) {
  if (fd < 0 || seconds <= 0) return;
  int on = 1, count = 3;
  unsigned int user_timeout_ms = static_cast<unsigned int>(seconds) * 4u * 1000u;
  (void)::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &seconds, sizeof(seconds));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &seconds, sizeof(seconds));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}

}  // namespace

std::string shell_quote(const std::string& word) {
  if (word.rfind("~/", 0) == 0) return "~/" + shell_quote(word.substr(2));
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

SshConnection::SshConnection(const SshOptions& options) : options_(options) {
  peer_name_ = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  interactive_ = !options.batch && ::isatty(STDIN_FILENO) == 1;
}

SshConnection::~SshConnection() {
  if (session_ != nullptr) {
    if (ssh_is_connected(session_) != 0) ssh_disconnect(session_);
    ssh_free(session_);
  }
  hop_.reset();  // only now: the session above ran through it
  proxy_.reset();
}

std::string SshConnection::destination() const {
  std::string user = session_ != nullptr ? session_string(session_, SSH_OPTIONS_USER) : options_.user;
  return user.empty() ? peer_name_ : user + "@" + peer_name_;
}

Status SshConnection::error(const std::string& what, const std::string& todo) const {
  std::string msg = what;
  if (session_ != nullptr) {
    const char* detail = ssh_get_error(session_);
    if (detail != nullptr && *detail != '\0') msg += ": " + std::string(detail);
  }
  if (!todo.empty()) msg += "; " + todo;
  return Status(ErrorKind::kConnection, msg);
}

Result<std::unique_ptr<SshConnection>> SshConnection::open(const SshOptions& options) {
  if (!options.jump.empty() && options.jump != "none" && !options.proxy_command.empty() &&
      options.proxy_command != "none") {
    return Status(ErrorKind::kUsage, "-J and --proxy-command both say how to reach the far host: give one of them");
  }
  std::unique_ptr<SshConnection> c(new SshConnection(options));
  SPARSYNC_RETURN_IF_ERROR(c->configure());
  Result<std::vector<JumpHost>> hops = c->jump_chain();
  if (!hops.is_ok()) return hops.status();
  if (!hops.value().empty()) {
    Result<std::unique_ptr<SshConnection>> last = open_jumps(options, hops.value());
    if (!last.is_ok()) return last.status();
    SPARSYNC_RETURN_IF_ERROR(c->connect_through(last.take()));
  } else {
    SPARSYNC_RETURN_IF_ERROR(c->start_proxy_command());
  }
  Status connected = c->connect();
  if (!connected.is_ok()) return c->proxy_ != nullptr ? c->proxy_->explain(connected) : connected;
  SPARSYNC_RETURN_IF_ERROR(c->check_host_key());
  SPARSYNC_RETURN_IF_ERROR(c->authenticate());
  return c;
}

Result<std::unique_ptr<SshConnection>> SshConnection::open_jumps(const SshOptions& target,
                                                                 const std::vector<JumpHost>& hops) {
  std::unique_ptr<SshConnection> previous;
  for (const JumpHost& hop : hops) {
    // Everything that says how to connect and whom to trust carries over;
    // -l and -p name the far host's user and port, not the jump host's.
    SshOptions o = target;
    o.host = hop.host;
    o.user = hop.user;
    o.port = hop.port;
    o.jump.clear();
    std::unique_ptr<SshConnection> c(new SshConnection(o));
    c->is_hop_ = true;
    auto named = [&hop](const Status& s) { return Status(s.kind(), "jump host " + hop.spec + ": " + s.message()); };
    Status s = c->configure();
    if (s.is_ok()) s = c->jump_chain().status();  // clears the hop's own ProxyJump
    if (!s.is_ok()) return named(s);
    // A failure to reach this hop through the one before names both already.
    if (previous != nullptr) SPARSYNC_RETURN_IF_ERROR(c->connect_through(std::move(previous)));
    for (Status (SshConnection::*step)() :
         {&SshConnection::connect, &SshConnection::check_host_key, &SshConnection::authenticate}) {
      s = (c.get()->*step)();
      if (!s.is_ok()) return named(s);
    }
    previous = std::move(c);
  }
  return previous;
}

// The hops to go through: -J wins over the config, as in ssh. The config's
// ProxyJump reaches us only as the ssh command libssh made of it, which must
// never run (it would not know our options), so it is cleared here either
// way; any other ProxyCommand is the user's and libssh runs it.
Result<std::vector<JumpHost>> SshConnection::jump_chain() {
  std::string proxy = session_string(session_, SSH_OPTIONS_PROXYCOMMAND);
  std::string list;
  bool config_jump = !proxy.empty() && jump_list_from_proxy_command(proxy, &list);
  if (is_hop_) list = "none";  // the chain says how to reach a jump host
  if (!options_.jump.empty()) list = options_.jump;
  if (config_jump || !list.empty()) ssh_options_set(session_, SSH_OPTIONS_PROXYCOMMAND, "none");
  return parse_jump_list(list);
}

Status SshConnection::connect_through(std::unique_ptr<SshConnection> jump) {
  unsigned int port = 22;
  ssh_options_get_port(session_, &port);
  Result<std::unique_ptr<SshHop>> hop = SshHop::open(std::move(jump), session_string(session_, SSH_OPTIONS_HOST), port);
  if (!hop.is_ok()) return hop.status();
  hop_ = hop.take();
  // libssh owns the socket from here and closes it with the session.
  socket_t fd = hop_->release_next_fd();
  if (ssh_options_set(session_, SSH_OPTIONS_FD, &fd) != SSH_OK) {
    ::close(fd);
    return error("cannot hand the jump host's channel to libssh", "");
  }
  return Status::ok();
}

// A ProxyCommand (--proxy-command, else the config's) is run by us, not by
// libssh, so that its failure can be told (ssh_proxy_command.h).
Status SshConnection::start_proxy_command() {
  std::string command = session_string(session_, SSH_OPTIONS_PROXYCOMMAND);
  if (!options_.proxy_command.empty()) command = options_.proxy_command;
  ssh_options_set(session_, SSH_OPTIONS_PROXYCOMMAND, "none");
  if (command.empty() || command == "none") return Status::ok();
  unsigned int port = 22;
  ssh_options_get_port(session_, &port);
  ProxyTarget target{.host = session_string(session_, SSH_OPTIONS_HOST),
                     .port = port,
                     .user = session_string(session_, SSH_OPTIONS_USER),
                     .original = options_.host};
  auto started = ProxyCommand::start(command, target);
  if (!started.is_ok()) return started.status();
  proxy_ = started.take();
  auto fd = proxy_->session_fd();
  if (!fd.is_ok()) return fd.status();
  socket_t handed = fd.value();
  if (ssh_options_set(session_, SSH_OPTIONS_FD, &handed) != SSH_OK) {
    ::close(handed);
    return error("cannot hand the proxy command's socket to libssh", "");
  }
  return Status::ok();
}

Status SshConnection::configure() {
  session_ = ssh_new();
  if (session_ == nullptr) return Status(ErrorKind::kInternal, "libssh could not create a session");
  if (options_.verbosity >= 2) {
    int level = SSH_LOG_PROTOCOL;
    ssh_options_set(session_, SSH_OPTIONS_LOG_VERBOSITY, &level);
  }
  // ~ follows $HOME, so a test or a wrapper can point sparsync at another
  // ~/.ssh without touching the user's own (libssh alone uses the passwd entry).
  std::string home = home_dir();
  if (!home.empty()) ssh_options_set(session_, SSH_OPTIONS_SSH_DIR, (home + "/.ssh").c_str());
  if (ssh_options_set(session_, SSH_OPTIONS_HOST, options_.host.c_str()) != SSH_OK) {
    return Status(ErrorKind::kUsage, "bad host name '" + options_.host + "'");
  }
  // Bulk transfer: AES-GCM runs in hardware on common CPUs and libssh's
  // chacha20-poly1305 does not, so prefer it; a Ciphers line in the ssh
  // config (parsed next) still wins.
  const char* ciphers =
      "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
      "aes128-ctr,aes192-ctr,aes256-ctr";
  ssh_options_set(session_, SSH_OPTIONS_CIPHERS_C_S, ciphers);
  ssh_options_set(session_, SSH_OPTIONS_CIPHERS_S_C, ciphers);
  // The config first, then the command line, so that -p/-l/-i win over it.
  const char* config = options_.config_file.empty() ? nullptr : options_.config_file.c_str();
  if (ssh_options_parse_config(session_, config) < 0) {
    return error("cannot read ssh config " + (config != nullptr ? options_.config_file : "~/.ssh/config"),
                 "fix it or give another with -F");
  }
  // libssh itself takes "StrictHostKeyChecking no" to mean a key that is
  // not in the global known_hosts is fine, even one that does not match
  // ours: the host key policy is ours alone (check_host_key).
  int strict = 1;
  ssh_options_set(session_, SSH_OPTIONS_STRICTHOSTKEYCHECK, &strict);
  read_host_key_policy();
  if (!options_.user.empty()) ssh_options_set(session_, SSH_OPTIONS_USER, options_.user.c_str());
  if (options_.port > 0) {
    unsigned int port = static_cast<unsigned int>(options_.port);
    ssh_options_set(session_, SSH_OPTIONS_PORT, &port);
  }
  // IDENTITY prepends, so adding in reverse keeps the user's -i order first.
  for (auto it = options_.identities.rbegin(); it != options_.identities.rend(); ++it) {
    if (!file_exists(*it)) {
      return Status(ErrorKind::kUsage, "--identity " + *it + ": no such file");
    }
    ssh_options_set(session_, SSH_OPTIONS_IDENTITY, it->c_str());
  }
  if (!options_.known_hosts.empty()) {
    ssh_options_set(session_, SSH_OPTIONS_KNOWNHOSTS, options_.known_hosts.c_str());
  }
  long timeout = options_.connect_timeout;
  ssh_options_set(session_, SSH_OPTIONS_TIMEOUT, &timeout);
  int nodelay = 1;  // HASH batches and acks are small; do not let Nagle hold them
  ssh_options_set(session_, SSH_OPTIONS_NODELAY, &nodelay);
  ssh_callbacks_init(&callbacks_);
  callbacks_.auth_function = refuse_passphrase;
  ssh_set_callbacks(session_, &callbacks_);
  return Status::ok();
}

Status SshConnection::connect() {
  if (ssh_connect(session_) != SSH_OK) {
    unsigned int port = 22;
    ssh_options_get_port(session_, &port);
    return error("cannot connect to " + options_.host + " port " + std::to_string(port),
                 "check the host name, port (-p) and network, or raise --connect-timeout");
  }
  set_tcp_keepalive(ssh_get_fd(session_), options_.keepalive);
  // Past the handshake, blocking libssh calls (channel open, flushing a full
  // window, the exit status) may legitimately wait longer than a connect.
  long io_timeout = io_timeout_seconds();
  ssh_options_set(session_, SSH_OPTIONS_TIMEOUT, &io_timeout);
  return Status::ok();
}

// As ssh: "accept-new" adds an unknown key and refuses a changed one. ssh's
// "no" would also accept a changed key, which for a DR copy means writing a
// disk to whoever answers; it is taken as accept-new instead (docs/usage.md).
void SshConnection::read_host_key_policy() {
  std::optional<std::string> v = ssh_config_value(options_.config_file, options_.host, "StrictHostKeyChecking");
  if (!v) return;
  std::string policy;
  for (char c : *v) policy += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  config_said_no_ = policy == "no" || policy == "off" || policy == "false";
  config_accepts_new_ = config_said_no_ || policy == "accept-new";
}

Status SshConnection::check_host_key() {
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(session_, &key) != SSH_OK) {
    return error("cannot get the host key of " + options_.host, "");
  }
  unsigned char* hash = nullptr;
  size_t hash_len = 0;
  std::string fingerprint = "?";
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) == SSH_OK) {
    char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
    if (fp != nullptr) {
      fingerprint = fp;
      ssh_string_free_char(fp);
    }
    ssh_clean_pubkey_hash(&hash);
  }
  const char* type_name = ssh_key_type_to_char(ssh_key_type(key));
  std::string key_text = std::string(type_name != nullptr ? type_name : "key") + " " + fingerprint;
  ssh_key_free(key);

  unsigned int port = 22;
  ssh_options_get_port(session_, &port);
  std::string hostname = session_string(session_, SSH_OPTIONS_HOST);
  std::string entry = port == 22 ? hostname : "[" + hostname + "]:" + std::to_string(port);
  // The file libssh actually checked: --known-hosts, else the ssh config's
  // UserKnownHostsFile, else ~/.ssh/known_hosts.
  std::string file = session_string(session_, SSH_OPTIONS_KNOWNHOSTS);
  if (file.empty()) file = options_.known_hosts.empty() ? "~/.ssh/known_hosts" : options_.known_hosts;
  std::string remove_hint = "ssh-keygen -R '" + entry + "' -f " + file;

  switch (ssh_session_is_known_server(session_)) {
    case SSH_KNOWN_HOSTS_OK:
      return Status::ok();
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      return Status(ErrorKind::kConnection, "host key of " + options_.host + " (" + entry + ") does not match " + file +
                                                " (it now offers " + key_text +
                                                "); someone may be intercepting the connection; if the host was "
                                                "reinstalled, check the new key and remove the old one with " +
                                                remove_hint +
                                                (config_said_no_ ? " (StrictHostKeyChecking no in the ssh config "
                                                                   "is taken as accept-new: a changed key is "
                                                                   "never accepted)"
                                                                 : ""));
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
      if (!options_.accept_new_host_key && !config_accepts_new_) {
        return Status(ErrorKind::kConnection,
                      "host key of " + options_.host + " (" + entry + ") is not in " + file + ": " + key_text +
                          "; check that fingerprint on the host, then run again with --accept-new-host-key "
                          "to add it");
      }
      if (ssh_session_update_known_hosts(session_) != SSH_OK) {
        return error("cannot add the host key of " + options_.host + " to " + file, "check that it is writable");
      }
      log::info("added host key of " + entry + " (" + key_text + ") to " + file +
                (options_.accept_new_host_key ? "" : " (StrictHostKeyChecking in the ssh config)"));
      return Status::ok();
    case SSH_KNOWN_HOSTS_ERROR:
    default:
      return error("cannot check the host key of " + options_.host + " against " + file,
                   "check that the file is readable");
  }
}

// The server's prompts (password, one-time code), answered on the terminal.
int SshConnection::keyboard_interactive() {
  int rc = ssh_userauth_kbdint(session_, nullptr, nullptr);
  while (rc == SSH_AUTH_INFO) {
    const char* instruction = ssh_userauth_kbdint_getinstruction(session_);
    if (instruction != nullptr && *instruction != '\0') log::info(instruction);
    int prompts = ssh_userauth_kbdint_getnprompts(session_);
    for (int i = 0; i < prompts; ++i) {
      char echo = 0;
      const char* prompt = ssh_userauth_kbdint_getprompt(session_, static_cast<unsigned int>(i), &echo);
      // The far sshd's words on our terminal: escaped like all its text.
      std::string shown = printable(prompt != nullptr ? prompt : "");
      std::string answer;
      if (!ask_on_terminal(shown, echo != 0, &answer)) return SSH_AUTH_DENIED;
      ssh_userauth_kbdint_setanswer(session_, static_cast<unsigned int>(i), answer.c_str());
      std::memset(answer.data(), 0, answer.size());
    }
    rc = ssh_userauth_kbdint(session_, nullptr, nullptr);
  }
  return rc;
}

Status SshConnection::authenticate() {
  int rc = ssh_userauth_none(session_, nullptr);
  if (rc == SSH_AUTH_SUCCESS) return Status::ok();
  if (rc == SSH_AUTH_ERROR) return error("authentication to " + destination() + " failed", "");
  int methods = ssh_userauth_list(session_, nullptr);
  std::vector<std::string> tried;
  std::vector<std::string> locked;  // keys that need a passphrase nobody could type
  if ((methods & SSH_AUTH_METHOD_PUBLICKEY) != 0) {
    // publickey_auto goes the way ssh does: agent keys, then the identity
    // list (our -i first, the config's IdentityFile, the default key files),
    // skipping keys that need a passphrase; those come next, asked by name.
    rc = ssh_userauth_publickey_auto(session_, nullptr, nullptr);
    if (rc == SSH_AUTH_SUCCESS) return Status::ok();
    if (rc == SSH_AUTH_ERROR) return error("authentication to " + destination() + " failed", "");
    std::string ssh_dir = home_dir().empty() ? "~/.ssh" : home_dir() + "/.ssh";
    std::vector<KeyFile> keys = candidate_keys(
        options_.identities, ssh_config_values(options_.config_file, options_.host, "IdentityFile"), ssh_dir);
    rc = authenticate_with_locked_keys(session_, keys, interactive_, &locked);
    if (rc == SSH_AUTH_SUCCESS) return Status::ok();
    if (rc == SSH_AUTH_ERROR) return error("authentication to " + destination() + " failed", "");
    std::vector<std::string> sources;
    if (std::getenv("SSH_AUTH_SOCK") != nullptr) sources.push_back("ssh-agent");
    for (const std::string& id : options_.identities) sources.push_back(id);
    std::string dir = home_dir().empty() ? "~/.ssh" : home_dir() + "/.ssh";
    for (const char* name : {"id_ed25519", "id_ecdsa", "id_rsa"}) {
      if (file_exists(dir + "/" + name)) sources.push_back(dir + "/" + name);
    }
    sources.push_back("IdentityFile from the ssh config");
    tried.push_back("publickey (" + join(sources, ", ") + ")");
  }
  if ((methods & SSH_AUTH_METHOD_PASSWORD) != 0) {
    if (interactive_) {
      std::string password;
      if (ask_on_terminal(destination() + "'s password: ", false, &password)) {
        rc = ssh_userauth_password(session_, nullptr, password.c_str());
        std::memset(password.data(), 0, password.size());
        if (rc == SSH_AUTH_SUCCESS) return Status::ok();
      }
      tried.push_back("password");
    } else {
      tried.push_back("password (not asked: --batch or no terminal)");
    }
  }
  if ((methods & SSH_AUTH_METHOD_INTERACTIVE) != 0) {
    if (interactive_) {
      if (keyboard_interactive() == SSH_AUTH_SUCCESS) return Status::ok();
      tried.push_back("keyboard-interactive");
    } else {
      tried.push_back("keyboard-interactive (not asked: --batch or no terminal)");
    }
  }
  if (!locked.empty()) {
    return Status(ErrorKind::kConnection,
                  "authentication to " + destination() + " failed: key " + join(locked, ", key ") +
                      " needs a passphrase and there is no terminal to ask it on (or --batch was given); load it "
                      "into ssh-agent (ssh-add " +
                      locked.front() + ") and run again with SSH_AUTH_SOCK set");
  }
  std::vector<std::string> offered;
  if ((methods & SSH_AUTH_METHOD_PUBLICKEY) != 0) offered.push_back("publickey");
  if ((methods & SSH_AUTH_METHOD_PASSWORD) != 0) offered.push_back("password");
  if ((methods & SSH_AUTH_METHOD_INTERACTIVE) != 0) offered.push_back("keyboard-interactive");
  if ((methods & SSH_AUTH_METHOD_GSSAPI_MIC) != 0) offered.push_back("gssapi-with-mic");
  return Status(ErrorKind::kConnection,
                "authentication to " + destination() + " failed; tried " +
                    (tried.empty() ? std::string("nothing") : join(tried, ", ")) + "; the server accepts " +
                    (offered.empty() ? std::string("none of these") : join(offered, ", ")) +
                    "; give the right key with -i or add your public key to the far host's authorized_keys");
}

}  // namespace sparsync
