#include "app/location.h"

#include "source/nbd_source.h"

namespace sparsync {
namespace {

Status usage(const std::string& arg, const std::string& why) {
  return Status(ErrorKind::kUsage, "'" + arg + "': " + why);
}

}  // namespace

Result<Location> parse_location(const std::string& arg) {
  Location loc;
  loc.path = arg;
  // scp treats these as local whatever follows, which is how a user names a
  // local file whose name contains a colon.
  if (arg.empty() || arg[0] == '/' || arg.rfind("./", 0) == 0 || arg.rfind("../", 0) == 0) return loc;
  // An NBD export is read from here, wherever its server is.
  if (is_nbd_uri(arg)) return loc;
  size_t at = std::string::npos;
  size_t host_begin = 0;
  size_t colon = std::string::npos;
  for (size_t i = 0; i < arg.size(); ++i) {
    char c = arg[i];
    if (c == '/') return loc;  // a slash before any colon: a local path
    if (c == '@' && colon == std::string::npos) {
      at = i;
      host_begin = i + 1;
    } else if (c == '[' && i == host_begin) {
      size_t close = arg.find(']', i);
      if (close == std::string::npos) return usage(arg, "unbalanced '[' in host name");
      if (close + 1 >= arg.size() || arg[close + 1] != ':') {
        return usage(arg, "expected ':' after ']', as in [::1]:/path");
      }
      colon = close + 1;
      break;
    } else if (c == ':') {
      colon = i;
      break;
    }
  }
  if (colon == std::string::npos) return loc;
  if (colon == 0) return loc;  // ":x" is a local file for scp too
  loc.remote = true;
  if (at != std::string::npos) loc.user = arg.substr(0, at);
  std::string host = arg.substr(host_begin, colon - host_begin);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  loc.host = host;
  loc.path = arg.substr(colon + 1);
  if (at != std::string::npos && loc.user.empty()) return usage(arg, "empty user name before '@'");
  if (loc.host.empty()) return usage(arg, "empty host name before ':'");
  if (loc.path.empty()) {
    return usage(arg, "give a path after the colon, e.g. " + arg + "/var/lib/images/vm.img");
  }
  return loc;
}

Status resolve_locations(const CliOptions& o, SyncRequest* r, RemoteSide* remote) {
  auto src = parse_location(r->source);
  if (!src.is_ok()) return src.status();
  auto dst = parse_location(r->target);
  if (!dst.is_ok()) return dst.status();
  if (src.value().remote && dst.value().remote) {
    return Status(ErrorKind::kUsage,
                  "both SOURCE and TARGET are remote; one side must be this host (write a local path "
                  "with a colon as ./name:x)");
  }
  if (is_nbd_uri(r->target)) {
    return Status(ErrorKind::kUsage, "TARGET " + r->target +
                                         ": an NBD export cannot be a target yet; give a file "
                                         "or block device (host:path for another host)");
  }
  if (o.source_format != "raw" && src.value().remote) {
    return Status(ErrorKind::kUsage, "--source-format reads a source on this host; for a qcow2 image on " +
                                         src.value().host + ", run sparsync there");
  }
  r->source = src.value().path;
  r->target = dst.value().path;
  r->pull = src.value().remote;
  const Location& far = r->pull ? src.value() : dst.value();
  remote->remote = far.remote;
  if (far.remote) remote->ssh = ssh_options_for(o, far, r->timeout);
  return Status::ok();
}

SshOptions ssh_options_for(const CliOptions& o, const Location& far, uint32_t timeout) {
  SshOptions s;
  s.host = far.host;
  s.user = !far.user.empty() ? far.user : o.ssh_login;
  s.port = o.ssh_port;
  s.identities = o.ssh_identities;
  s.config_file = o.ssh_config;
  s.jump = o.ssh_jump;
  s.proxy_command = o.proxy_command;
  s.known_hosts = o.known_hosts;
  s.accept_new_host_key = o.accept_new_host_key;
  s.batch = o.batch;
  s.connect_timeout = o.connect_timeout;
  s.keepalive = o.keepalive;
  s.timeout = static_cast<int>(timeout);
  s.remote_path = o.remote_path;
  s.sudo = o.sudo;
  s.upload = !o.no_upload;
  s.verbosity = o.verbosity;
  return s;
}

}  // namespace sparsync
