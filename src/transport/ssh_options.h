// SshOptions: everything needed to reach the far host and start sparsync
// there, as given on the command line. Empty/zero fields mean "ask the ssh
// config, then use ssh's default". Plain data.
#pragma once

#include <string>
#include <vector>

namespace sparsync {

struct SshOptions {
  std::string host;                      // as the user typed it (may be a config alias)
  std::string user;                      // -l or user@; empty: config, then the local user
  int port = 0;                          // -p; 0: config, then 22
  std::vector<std::string> identities;   // -i, tried before the config's and default keys
  std::string config_file;               // -F; empty: ~/.ssh/config and /etc/ssh/ssh_config
  std::string jump;                      // -J hop[,hop...]; empty: the config's ProxyJump; "none": no jump
  std::string proxy_command;             // --proxy-command; empty: the config's ProxyCommand; "none": none
  std::string known_hosts;               // --known-hosts; empty: ~/.ssh/known_hosts
  bool accept_new_host_key = false;      // like ssh's StrictHostKeyChecking=accept-new
  bool batch = false;                    // never prompt (also when stdin is not a terminal)
  int connect_timeout = 30;              // seconds for TCP connect and the SSH handshake
  int keepalive = 15;                    // seconds of quiet before a keepalive; 0 = off
  int timeout = 300;                     // --timeout: seconds without a byte from the far side; 0 = none
  std::string remote_path = "sparsync";  // the binary on the far host
  bool sudo = false;                     // run it as `sudo -n <remote_path>`
  bool upload = true;                    // upload this binary when the far side lacks one
  int verbosity = 0;                     // -1 quiet .. 2 debug, also for libssh's own log
};

}  // namespace sparsync
