// The server side (`sparsync --server`): speaks the protocol on stdin and
// stdout, plays target (push) or source (pull) as the OPEN message says, and
// returns the process exit code. It prints nothing on stdout but frames;
// problems go to the peer as ERROR and to stderr.
#pragma once

namespace sparsync {

int run_server(int in_fd, int out_fd);

}  // namespace sparsync
