#include "transport/ssh_jump.h"

#include <cstdlib>
#include <sstream>

namespace sparsync {
namespace {

Status bad_entry(const std::string& entry, const std::string& why) {
  return Status(ErrorKind::kUsage,
                "jump host '" + entry + "': " + why + "; write it as [user@]host[:port], several separated by commas");
}

bool parse_port(const std::string& text, int* port) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  *port = std::atoi(text.c_str());
  return *port >= 1 && *port <= 65535;
}

Result<JumpHost> parse_entry(const std::string& entry) {
  JumpHost hop;
  hop.spec = entry;
  std::string rest = entry;
  size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    hop.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (hop.user.empty()) return bad_entry(entry, "empty user name");
  }
  std::string port_text;
  bool has_port = false;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) return bad_entry(entry, "no ']' after an IPv6 address");
    std::string after = rest.substr(close + 1);
    if (!after.empty() && after.front() != ':') return bad_entry(entry, "bad port");
    has_port = !after.empty();
    if (has_port) port_text = after.substr(1);
    rest = rest.substr(1, close - 1);
  } else {
    size_t colon = rest.find(':');
    if (colon != std::string::npos) {
      if (rest.find(':', colon + 1) != std::string::npos) return bad_entry(entry, "write an IPv6 address in [ ]");
      has_port = true;
      port_text = rest.substr(colon + 1);
      rest = rest.substr(0, colon);
    }
  }
  if (has_port && !parse_port(port_text, &hop.port)) return bad_entry(entry, "bad port '" + port_text + "'");
  if (rest.empty()) return bad_entry(entry, "no host name");
  if (rest.find_first_of(" \t'\"") != std::string::npos) return bad_entry(entry, "space or quote in the host name");
  hop.host = rest;
  return hop;
}

}  // namespace

Result<std::vector<JumpHost>> parse_jump_list(const std::string& list) {
  std::vector<JumpHost> hops;
  if (list.empty() || list == "none") return hops;
  size_t start = 0;
  for (;;) {
    size_t comma = list.find(',', start);
    std::string entry = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    Result<JumpHost> hop = parse_entry(entry);
    if (!hop.is_ok()) return hop.status();
    hops.push_back(hop.take());
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return hops;
}

bool jump_list_from_proxy_command(const std::string& command, std::string* list) {
  std::istringstream words(command);
  std::string word;
  if (!(words >> word) || word != "ssh") return false;
  std::string user, port, rest, host;
  bool forward_seen = false;
  while (words >> word) {
    std::string* value = nullptr;
    if (word == "-l") value = &user;
    if (word == "-p") value = &port;
    if (word == "-J") value = &rest;
    if (value != nullptr) {
      if (!(words >> *value)) return false;
      continue;
    }
    if (word == "-W") {
      if (!(words >> word) || word != "'[%h]:%p'") return false;
      forward_seen = true;
      continue;
    }
    if (!forward_seen || !host.empty() || word.front() == '-') return false;
    host = word;
  }
  if (!forward_seen || host.empty()) return false;
  // libssh drops the brackets of an IPv6 first hop; put them back so the
  // port (written after a colon) stays separate from the address.
  std::string first = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!user.empty()) first = user + "@" + first;
  if (!port.empty()) first += ":" + port;
  *list = rest.empty() ? first : first + "," + rest;
  return true;
}

}  // namespace sparsync
