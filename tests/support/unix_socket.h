// Whether a server listens on a Unix socket yet. A server creates the socket
// file at bind(2) and only accepts at listen(2): a test that waits for the
// file alone can connect (or stop the server) in between and be refused.
// Thread-safety: none needed; reads /proc each call.
#pragma once

#include <string>

namespace sparsync::testing {

// True when a socket bound at `path` is listening (its /proc/net/unix entry
// carries the accepting flag).
bool unix_socket_listening(const std::string& path);

}  // namespace sparsync::testing
