#include "source/nbd_library.h"

#include <dlfcn.h>

#include <mutex>

namespace sparsync {
namespace {

template <typename F>
bool resolve(void* lib, const char* name, F* out) {
  *out = reinterpret_cast<F>(::dlsym(lib, name));
  return *out != nullptr;
}

Status load(NbdLibrary* n) {
  void* lib = ::dlopen("libnbd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    return Status(ErrorKind::kUsage,
                  "an NBD or qcow2 source needs libnbd, which this host lacks (Debian: apt install libnbd0)");
  }
  const bool all =
      resolve(lib, "nbd_create", &n->create) && resolve(lib, "nbd_close", &n->close) &&
      resolve(lib, "nbd_get_error", &n->get_error) && resolve(lib, "nbd_add_meta_context", &n->add_meta_context) &&
      resolve(lib, "nbd_set_uri_allow_local_file", &n->set_uri_allow_local_file) &&
      resolve(lib, "nbd_set_uri_allow_transports", &n->set_uri_allow_transports) &&
      resolve(lib, "nbd_get_size", &n->get_size) && resolve(lib, "nbd_can_meta_context", &n->can_meta_context) &&
      resolve(lib, "nbd_aio_connect_uri", &n->aio_connect_uri) &&
      resolve(lib, "nbd_aio_connect_systemd_socket_activation", &n->aio_connect_systemd_socket_activation) &&
      resolve(lib, "nbd_aio_pread", &n->aio_pread) && resolve(lib, "nbd_aio_block_status", &n->aio_block_status) &&
      resolve(lib, "nbd_aio_disconnect", &n->aio_disconnect) &&
      resolve(lib, "nbd_aio_command_completed", &n->aio_command_completed) &&
      resolve(lib, "nbd_aio_in_flight", &n->aio_in_flight) &&
      resolve(lib, "nbd_aio_is_connecting", &n->aio_is_connecting) &&
      resolve(lib, "nbd_aio_is_ready", &n->aio_is_ready) && resolve(lib, "nbd_aio_is_closed", &n->aio_is_closed) &&
      resolve(lib, "nbd_aio_is_dead", &n->aio_is_dead) && resolve(lib, "nbd_poll", &n->poll) &&
      resolve(lib, "nbd_kill_subprocess", &n->kill_subprocess);
  // The library stays loaded for the process's life: handles may outlive any scope.
  if (!all) return Status(ErrorKind::kUsage, "this host's libnbd is too old for sparsync (it needs libnbd 1.14)");
  return Status::ok();
}

}  // namespace

Result<const NbdLibrary*> nbd_library() {
  static NbdLibrary library{};
  static Status loaded = Status::ok();
  static std::once_flag once;
  std::call_once(once, [] { loaded = load(&library); });
  if (!loaded.is_ok()) return loaded;
  return &library;
}

}  // namespace sparsync
