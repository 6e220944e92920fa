// Public key authentication with keys that need a passphrase, asked as ssh
// asks it: "Enter passphrase for key '~/.ssh/id_ed25519': ", naming the key
// as it was given. libssh's own attempt (ssh_userauth_publickey_auto) would
// only say "Passphrase", on stdout; SshConnection lets it try the agent and
// the keys that need none, then calls this for the rest.
// Thread-safety: none; the connecting thread's session.
#pragma once

#include <libssh/libssh.h>

#include <string>
#include <vector>

namespace sparsync {

struct KeyFile {
  std::string shown;  // as given: "-i key", the config's "~/.ssh/dr_key", "~/.ssh/id_ed25519"
  std::string path;   // what to open
};

// The keys to try in ssh's order: `identities` (-i), the config's
// IdentityFile lines, the default key names in `ssh_dir`.
std::vector<KeyFile> candidate_keys(const std::vector<std::string>& identities,
                                    const std::vector<std::string>& config_identity_files, const std::string& ssh_dir);

// Tries each candidate that needs a passphrase and that the server would
// accept (or whose .pub is missing, so that cannot be known): asks for the
// passphrase when `interactive`, else lists it in `locked`. Returns
// SSH_AUTH_SUCCESS, SSH_AUTH_ERROR, or SSH_AUTH_DENIED.
int authenticate_with_locked_keys(ssh_session session, const std::vector<KeyFile>& keys, bool interactive,
                                  std::vector<std::string>* locked);

// True when `path` holds a private key that needs a passphrase to load.
bool key_needs_passphrase(const std::string& path);

}  // namespace sparsync
