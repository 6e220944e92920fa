// Resolving a path the way a server that runs as root, in directories other
// users can write, must (docs/security.md): component by
// component from "/" (or the working directory), each directory opened with
// O_NOFOLLOW relative to the one before and checked to be the one just
// looked at, and a symlink followed only when its owner is trusted (root,
// the user sparsync runs as, or the caller sudo names), so a link that
// another user planted cannot redirect a write.
//
// The result is the directory that holds the last component, open, and that
// component's name, which is not a symlink. Everything a run creates,
// replaces or locks is then opened relative to that descriptor with
// O_NOFOLLOW (and O_EXCL where it creates), so nothing renamed or replaced
// in the path afterwards can move it elsewhere. `shown` is the absolute path
// with every symlink and ".." resolved: what messages call it and what a
// fence (--allow-root) is checked against.
// Thread-safety: plain functions of the filesystem state.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace sparsync {

struct PathTrust {
  // Owners whose symlinks are followed besides root and the effective user
  // (the server passes sudo's caller: that user named the path anyway).
  std::vector<uid_t> symlink_owners;
};

struct ResolvedPath {
  UniqueFd dir;           // the directory holding `name` (O_RDONLY, else O_PATH)
  std::string dir_shown;  // its absolute path, symlinks resolved ("/" for the root)
  std::string name;       // the last component, never "." or ".."
  bool exists = false;    // something was at `name` when it was resolved
  std::string given;      // the path as it was asked for, for messages
  std::string shown() const { return (dir_shown == "/" ? "" : dir_shown) + "/" + name; }
};

// Resolves `path` (see above). Failures carry `role` as their kind and say
// which component stopped the walk and why: a missing or non-directory
// parent, an untrusted or looping symlink, a component that changed while
// it was being opened, a last component of "." or "..".
Result<ResolvedPath> resolve_path(const std::string& path, ErrorKind role, const PathTrust& trust = {});

struct OpenedDir {
  UniqueFd fd;        // O_RDONLY | O_DIRECTORY
  std::string shown;  // absolute, symlinks resolved
};

// Opens the directory `path` (resolved as above), creating its last
// component with `create_mode` when it is missing (0: a missing directory
// is an error). For state directories ($SPARSYNC_STATE_DIR).
Result<OpenedDir> open_directory(const std::string& path, ErrorKind role, mode_t create_mode,
                                 const PathTrust& trust = {});

// True when `dir` is `root` or lies below it, comparing whole components of
// absolute, resolved paths (/srv/a is not below /srv/ab).
bool path_is_below(const std::string& dir, const std::string& root);

// With openat2 (Linux 5.6+): true when `rel` opened beneath `root_fd` with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS reaches the
// very directory `dir_fd` (same device and inode), i.e. the kernel agrees
// that it lies below the root by a path without symlinks or escapes. Where
// the kernel has no openat2, *checked is false and the caller relies on the
// walk above.
bool kernel_confirms_beneath(int root_fd, const std::string& rel, int dir_fd, bool* checked);

// A random name for a temporary beside `base`: "<base>.tmp.<16 hex digits>",
// for O_CREAT|O_EXCL|O_NOFOLLOW creation (never predictable by another user).
std::string unpredictable_name(const std::string& base);

}  // namespace sparsync
