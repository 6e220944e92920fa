// Jump host lists, as ssh's -J and the config's ProxyJump spell them:
// "[user@]host[:port]" entries separated by commas, the first reached first.
// Pure: parsing only; ssh_hop.h carries a session through one.
// Thread-safety: stateless.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace sparsync {

struct JumpHost {
  std::string spec;  // the entry as written, for messages ("admin@jump:2222")
  std::string user;  // empty: the config's, then the local user
  std::string host;  // a name the ssh config may resolve (HostName, Port, IdentityFile)
  int port = 0;      // 0: the config's, then 22
};

// "a,admin@b:2222,[::1]:22" -> three hops. "none" (ssh's way of switching a
// jump off) and "" give an empty list.
Result<std::vector<JumpHost>> parse_jump_list(const std::string& list);

// libssh 0.10 turns a config's "ProxyJump LIST" into the ProxyCommand
// "ssh [-l USER] [-p PORT] [-J REST] -W '[%h]:%p' HOST" and would run it:
// an ssh that knows nothing of our -F, -i or --known-hosts. This recognises
// that command (or the same written by hand) and gives back LIST, so the
// jump can be made with our own sessions instead; false for any other command.
bool jump_list_from_proxy_command(const std::string& command, std::string* list);

}  // namespace sparsync
