#include "transport/ssh_key_auth.h"

#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

#include "common/log.h"
#include "transport/terminal_prompt.h"

namespace sparsync {
namespace {

constexpr int kTries = 3;  // as ssh's NumberOfPasswordPrompts

// Asked by libssh for a passphrase while probing: say it was needed, give none.
int note_passphrase_needed(const char*, char*, size_t, int, int, void* userdata) {
  *static_cast<bool*>(userdata) = true;
  return -1;
}

bool regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string expand_home(const std::string& path) {
  if (path.rfind("~/", 0) != 0) return path;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") + path.substr(1);
}

// Whether the server would take this key, judged by its .pub (no prompt for
// a key it would refuse anyway); unknown without a .pub.
bool server_may_accept(ssh_session session, const std::string& path) {
  ssh_key pub = nullptr;
  if (ssh_pki_import_pubkey_file((path + ".pub").c_str(), &pub) != SSH_OK) return true;
  int rc = ssh_userauth_try_publickey(session, nullptr, pub);
  ssh_key_free(pub);
  return rc == SSH_AUTH_SUCCESS;
}

// SSH_AUTH_DENIED also when the person gave up (an empty answer, or no terminal).
int try_with_passphrase(ssh_session session, const KeyFile& key) {
  for (int attempt = 0; attempt < kTries; ++attempt) {
    std::string prompt =
        (attempt == 0 ? "Enter passphrase for key '" : "Bad passphrase, try again for key '") + key.shown + "': ";
    std::string passphrase;
    if (!ask_on_terminal(prompt, false, &passphrase) || passphrase.empty()) return SSH_AUTH_DENIED;
    ssh_key private_key = nullptr;
    int rc = ssh_pki_import_privkey_file(key.path.c_str(), passphrase.c_str(), nullptr, nullptr, &private_key);
    std::memset(passphrase.data(), 0, passphrase.size());
    if (rc != SSH_OK) continue;
    rc = ssh_userauth_publickey(session, nullptr, private_key);
    ssh_key_free(private_key);
    return rc;
  }
  return SSH_AUTH_DENIED;
}

}  // namespace

std::vector<KeyFile> candidate_keys(const std::vector<std::string>& identities,
                                    const std::vector<std::string>& config_identity_files, const std::string& ssh_dir) {
  std::vector<KeyFile> keys;
  auto add = [&keys](const std::string& shown, const std::string& path) {
    for (const KeyFile& k : keys) {
      if (k.path == path) return;
    }
    keys.push_back(KeyFile{shown, path});
  };
  for (const std::string& id : identities) add(id, expand_home(id));
  for (const std::string& id : config_identity_files) add(id, expand_home(id));
  for (const char* name : {"id_ed25519", "id_ecdsa", "id_rsa"})
    add(std::string("~/.ssh/") + name, ssh_dir + "/" + name);
  return keys;
}

bool key_needs_passphrase(const std::string& path) {
  if (!regular_file(path)) return false;
  bool needed = false;
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(path.c_str(), nullptr, note_passphrase_needed, &needed, &key) == SSH_OK) {
    ssh_key_free(key);
    return false;
  }
  return needed;
}

int authenticate_with_locked_keys(ssh_session session, const std::vector<KeyFile>& keys, bool interactive,
                                  std::vector<std::string>* locked) {
  for (const KeyFile& key : keys) {
    if (!key_needs_passphrase(key.path) || !server_may_accept(session, key.path)) continue;
    if (!interactive) {
      locked->push_back(key.shown);
      continue;
    }
    int rc = try_with_passphrase(session, key);
    if (rc == SSH_AUTH_SUCCESS || rc == SSH_AUTH_ERROR) return rc;
    log::verbose("key " + key.shown + " was not used");
  }
  return SSH_AUTH_DENIED;
}

}  // namespace sparsync
