// The reference copies behind `--changes reflink` (issue 18): each run takes
// a reflink copy (ioctl FICLONE) of the source image beside it, a
// point-in-time image even while a VM writes the original, and reads that
// copy as its source; the copy of the last completed run is kept, and
// comparing the extent maps of the two (source/reflink_changes.h) names what
// changed in between.
//
// Beside source "<dir>/<name>" (with an optional tag, one pair per target):
//   ".<name>[.<tag>].sparsync-ref"      the kept reference of the last completed run
//   ".<name>[.<tag>].sparsync-ref-new"  this run's copy, until keep() or discard()
// The directory may be writable by other users (docs/security.md): every
// name here is opened relative to the directory's descriptor, never through
// a symlink, the new copy with O_EXCL, and nothing at these names is used,
// replaced or removed unless it is a regular file of the user sparsync runs
// as, with one link.
//
// Thread-safety: plain functions of the filesystem state; a ReferencePlace
// and a NewReference each have one owner.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/safe_path.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace sparsync {

// Where one source's references live: the source's directory and the names.
struct ReferencePlace {
  UniqueFd dir;           // the source's directory (a duplicate the place owns)
  std::string dir_shown;  // its absolute path, for messages
  std::string source;     // the source's name in `dir`
  std::string kept;       // ".<source>[.<tag>].sparsync-ref"
  std::string fresh;      // kept + "-new"
  std::string shown(const std::string& name) const { return (dir_shown == "/" ? "" : dir_shown) + "/" + name; }
};

// The place for the source `where` resolved to (common/safe_path.h). `tag`
// tells apart the references of one source kept for different targets:
// empty, or up to 64 of [A-Za-z0-9_-]. Fails (kUsage) on another tag, or
// when the names would be longer than a file name may be.
Result<ReferencePlace> reference_place(const ResolvedPath& where, const std::string& tag = {});
// The same for a source path, resolved first as a source (kSource).
Result<ReferencePlace> reference_place(const std::string& source_path, const std::string& tag = {},
                                       const PathTrust& trust = {});

// `name` (place.fresh, to read this run's reference as the source through
// FileDevice::open, which locks it) as a resolved path in the place's
// directory; the caller checks that what it opens has the identity that
// take_reference() returned.
Result<ResolvedPath> reference_path(const ReferencePlace& place, const std::string& name);

// What names one reference across runs: the caller binds it into its state
// (and the target's record), so a reference replaced, edited, chmod'ed or
// renamed in between (each moves ctime, which no user can set back) is not
// trusted.
struct ReferenceIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t ctime_ns = 0;
  uint64_t size = 0;
  bool operator==(const ReferenceIdentity&) const = default;
};

// This run's reflink copy, open. Read it as the run's source (through `fd`,
// or reopened with reference_path() and checked against `identity`).
struct NewReference {
  UniqueFd fd;  // O_RDONLY, holding flock(LOCK_SH) while it is open
  ReferenceIdentity identity;
};

// Takes this run's reference: a leftover place.fresh from a run that
// crashed is removed first when it is a regular file of ours with one link
// that no run holds locked (anything else there, a live run's copy
// included, refuses the run: kSource, naming it); the copy is created with
// O_CREAT|O_EXCL|O_NOFOLLOW (mode 0600: it holds the image), locked (flock
// LOCK_SH, which FileDevice's source lock shares; hold the NewReference
// until keep or discard), cloned from `source_fd` (or, when -1, from
// place.source opened without following a symlink) and fsync'ed. A source
// that is not a regular file, and a filesystem that cannot reflink (ext4,
// tmpfs, XFS made with reflink=0, ...), fail with kUsage and one line
// naming the path and the filesystem type. Nothing is left behind on any
// failure.
Result<NewReference> take_reference(const ReferencePlace& place, int source_fd = -1);

// The kept reference, if it can be trusted as far as the filesystem can
// tell; the caller still checks `identity` against its state.
struct KeptReference {
  UniqueFd fd;  // O_RDONLY; valid when `refused` is empty
  ReferenceIdentity identity;
  // Why it is not used (the run compares everything instead): one short
  // phrase such as "there is no kept reference yet" or "kept reference
  // <path> is a file with 2 links"; empty when it is usable.
  std::string refused;
};

// Opens place.kept without following a symlink or blocking (a FIFO), and
// refuses it (a reason, not an error) when it is missing, not a regular
// file, not owned by the effective user, has more than one link, lies on
// another filesystem than `fresh`, or differs from it in size (the image was
// resized).
KeptReference open_kept_reference(const ReferencePlace& place, const NewReference& fresh);

// After the target has confirmed the run durable: renames place.fresh over
// place.kept (RENAME_NOREPLACE where nothing was there) and fsyncs the
// directory. Returns the kept reference's identity as it is now (a rename
// moves ctime): the one to bind. Fails (kSource), renaming nothing, when
// place.fresh is no longer `fresh` (something swapped it in the directory)
// or what is at place.kept is not a reference of ours (it is left alone);
// and when place.kept is not `fresh` after the rename.
Result<ReferenceIdentity> keep_reference(const ReferencePlace& place, const NewReference& fresh);

// After a failed run: removes place.fresh when it is still `fresh`, and
// fsyncs the directory; fails (kSource), leaving it, when something else
// is at that name now.
Status discard_reference(const ReferencePlace& place, const NewReference& fresh);

// When the source stops using --changes reflink: removes both names where
// each is a regular file of ours with one link, and fsyncs the directory.
// Anything else found at a name is left alone, with one line in `*left`
// saying what and why ("left <path>: a symlink, not a reference sparsync
// made"). Fails only when a removal itself fails.
Status remove_references(const ReferencePlace& place, std::vector<std::string>* left);

// A filesystem's name from statfs' f_type: "xfs", "btrfs", "ext4" (also
// ext2 and ext3, which share its magic), "tmpfs", ...; "filesystem type
// 0x<hex>" for one not listed.
std::string filesystem_type_name(int64_t f_type);

}  // namespace sparsync
