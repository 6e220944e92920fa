// open_ssh_transport: everything between "one side is host:path" and a Transport
// the client can speak the protocol over, past HELLO. Connects, starts
// `<remote-path> --server` and sends HELLO at once; the answer (or the exit
// status of a command that ended instead) says whether the far host has a
// sparsync speaking our protocol version. When it has none or another
// version, uploads this very binary to a
// private temporary directory there for the run (same machine architecture
// only; not with --no-upload) and removes it afterwards, also on failure.
// Thread-safety: call from one thread.
#pragma once

#include <memory>

#include "common/status.h"
#include "transport/ssh_connection.h"
#include "transport/ssh_options.h"
#include "transport/ssh_transport.h"
#include "transport/transport.h"

namespace sparsync {

Result<std::unique_ptr<Transport>> open_ssh_transport(const SshOptions& options);

// The same on a connection already open (and authenticated), with the
// options it was opened with: a job's next sync to a host it has reached
// (transport/ssh_connection_pool.h), possibly while other syncs run on it.
Result<std::unique_ptr<SshTransport>> start_ssh_transport(std::shared_ptr<SshConnection> connection);

}  // namespace sparsync
