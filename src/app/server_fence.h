// Fencing of the server (`sparsync --server --allow-root DIR --read-only
// --write-only`): decides whether an OPEN may proceed, given what the host's
// owner allowed, the role the client asked the server to play and the path.
// Meant for a forced command in authorized_keys (docs/security.md "Fencing
// the far side"), where the client's own command line is ignored.
// Thread-safety: pure functions apart from the filesystem lookups.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/proto/protocol_constants.h"
#include "common/safe_path.h"
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

// Pure: is the already resolved `resolved` equal to or below one of the
// already resolved `roots`? Compares whole components (/srv/a is not below /srv/ab).
bool below_any_root(const std::string& resolved, const std::vector<std::string>& roots);

// The whole decision for one OPEN, before anything is opened or created:
// the role first (kUsage), then the path, resolved the safe way
// (common/safe_path.h, symlinks followed only when `trust` allows), whose
// directory must lie below one of the roots, checked on the resolved path
// and, where the kernel has openat2, again by the kernel from the root's
// descriptor (RESOLVE_BENEATH, no symlinks): so a directory swapped for a
// symlink between the check and the open cannot lead out. Refusals of the
// path are kTarget for a push, kSource for a pull. The result is what the
// server then opens, relative to its directory descriptor.
Result<ResolvedPath> fenced_resolve(const ServerFence& fence, proto::Role role, const std::string& path,
                                    const PathTrust& trust = {});

// fenced_resolve without the result (tests, and checks that open nothing).
Status check_fence(const ServerFence& fence, proto::Role role, const std::string& path);

// sshd sets SSH_ORIGINAL_COMMAND when it runs a forced command instead of the
// one the client asked for. The client first probes the far side with
// `<binary> --version`; a fenced server answers that probe itself. True when
// `original_command` is such a probe.
bool is_version_probe(const char* original_command);

// run_server() with the fence applied to the OPEN (defined in server.cpp).
int run_server(int in_fd, int out_fd, const ServerFence& fence);

}  // namespace sparsync
