// The server side (`sparsync --server`): speaks the protocol on stdin and
// stdout, plays target (push) or source (pull) as the OPEN message says, and
// returns the process exit code. It prints nothing on stdout but frames;
// problems go to the peer as ERROR and to stderr.
#pragma once

#include <cstdint>

namespace sparsync {

struct ServerFence;

// The server's idle timeout (docs/usage.md "Hangs and timeouts"): `seconds` bounds every
// wait until the client announces its own, which replaces it unless it was
// `given` on the server's command line (a forced command's policy).
struct ServerTimeout {
  uint32_t seconds = 300;  // kDefaultIdleTimeout (app/sync_request.h; static_assert in server.cpp)
  bool given = false;
};

int run_server(int in_fd, int out_fd);
int run_server(int in_fd, int out_fd, const ServerFence& fence, const ServerTimeout& timeout);

}  // namespace sparsync
