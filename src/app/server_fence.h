// Fencing of the server (`sparsync --server --allow-root DIR --read-only
// --write-only`): decides whether an OPEN may proceed, given what the host's
// owner allowed, the role the client asked the server to play and the path.
// Meant for a forced command in authorized_keys (README "Security and
// hardening"), where the client's own command line is ignored.
// Thread-safety: pure functions apart from the filesystem lookups.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/protocol_constants.h"
#include "common/status.h"

namespace sparsync {

struct ServerFence {
  // Paths must resolve below one of these directories; empty: anywhere.
  std::vector<std::string> allow_roots;
  bool read_only = false;   // refuse to be a target (a push here)
  bool write_only = false;  // refuse to be a source (a pull from here)
};

// Rejects contradictory settings (both --read-only and --write-only).
Status validate_fence(const ServerFence& fence);

// What `path` would name once opened: realpath() of it, or, when nothing is
// there yet, realpath() of its parent plus the last component. A dangling
// symlink, a last component of "." or "..", or an unresolvable parent give
// nullopt with the reason in *why.
std::optional<std::string> resolve_for_fence(const std::string& path, std::string* why);

// Pure: is the already resolved `resolved` equal to or below one of the
// already resolved `roots`? Compares whole components (/srv/a is not below /srv/ab).
bool below_any_root(const std::string& resolved, const std::vector<std::string>& roots);

// The whole decision for one OPEN. Refusals: the role (kUsage), a path
// outside every root or unresolvable (kTarget for a push, kSource for a pull).
Status check_fence(const ServerFence& fence, proto::Role role, const std::string& path);

// sshd sets SSH_ORIGINAL_COMMAND when it runs a forced command instead of the
// one the client asked for. The client first probes the far side with
// `<binary> --version`; a fenced server answers that probe itself. True when
// `original_command` is such a probe.
bool is_version_probe(const char* original_command);

// run_server() with the fence applied to the OPEN (defined in server.cpp).
int run_server(int in_fd, int out_fd, const ServerFence& fence);

}  // namespace sparsync
