#include "app/safety.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/in_use.h"

namespace sparsync {

Status check_sides(const SyncRequest& r, bool remote) {
  if (r.pull && r.source == "-") {
    return Status(ErrorKind::kUsage,
                  "a stdin source (-) must be on this host: pipe into sparsync here, "
                  "as in: xzcat disk.img.xz | sparsync - host:/dev/sdb --size 20G");
  }
  if (remote) return Status::ok();
  struct stat src {};
  if (r.source_stdin) {
    if (::fstat(STDIN_FILENO, &src) != 0) return Status::ok();  // the read reports it
    return check_not_same(src, "stdin", r.target);
  }
  if (::stat(r.source.c_str(), &src) != 0) return Status::ok();  // opening reports it
  return check_not_same(src, r.source, r.target);
}

}  // namespace sparsync
