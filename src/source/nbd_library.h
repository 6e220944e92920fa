// libnbd, loaded when an NBD or qcow2 source is first used (dlopen of
// libnbd.so.0), not linked: the release binary links its libraries
// statically (docs/how-it-works.md "What the far side needs"), and libnbd's
// own dependencies (GnuTLS, p11-kit) have no static form on Debian. A host
// without libnbd0 can still run every other kind of sync; asking for an NBD
// source there says what to install.
// Thread-safety: nbd_library() may be called from any thread (loaded once).
#pragma once

#include <libnbd.h>

#include "common/status.h"

namespace sparsync {

// The libnbd functions sparsync uses, by their own names.
struct NbdLibrary {
  decltype(&::nbd_create) create;
  decltype(&::nbd_close) close;
  decltype(&::nbd_get_error) get_error;
  decltype(&::nbd_add_meta_context) add_meta_context;
  decltype(&::nbd_set_uri_allow_local_file) set_uri_allow_local_file;
  decltype(&::nbd_set_uri_allow_transports) set_uri_allow_transports;
  decltype(&::nbd_get_size) get_size;
  decltype(&::nbd_can_meta_context) can_meta_context;
  // Every call that waits for the server goes through its aio form, polled
  // with a bound (source/nbd_wait.h).
  decltype(&::nbd_aio_connect_uri) aio_connect_uri;
  decltype(&::nbd_aio_connect_systemd_socket_activation) aio_connect_systemd_socket_activation;
  decltype(&::nbd_aio_pread) aio_pread;
  decltype(&::nbd_aio_block_status) aio_block_status;
  decltype(&::nbd_aio_disconnect) aio_disconnect;
  decltype(&::nbd_aio_command_completed) aio_command_completed;
  decltype(&::nbd_aio_in_flight) aio_in_flight;
  decltype(&::nbd_aio_is_connecting) aio_is_connecting;
  decltype(&::nbd_aio_is_ready) aio_is_ready;
  decltype(&::nbd_aio_is_closed) aio_is_closed;
  decltype(&::nbd_aio_is_dead) aio_is_dead;
  decltype(&::nbd_poll) poll;
  decltype(&::nbd_kill_subprocess) kill_subprocess;
};

// Loaded and resolved once; a missing library or symbol is a usage error
// (kUsage) naming the package.
Result<const NbdLibrary*> nbd_library();

}  // namespace sparsync
