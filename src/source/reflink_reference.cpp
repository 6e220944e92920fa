#include "source/reflink_reference.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstring>

namespace sparsync {
namespace {

constexpr size_t kMaxTag = 64;

ReferenceIdentity identity_of(const struct stat& st) {
  return {.dev = st.st_dev,
          .ino = st.st_ino,
          .ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec,
          .size = static_cast<uint64_t>(st.st_size)};
}

bool same_inode(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

std::string file_kind(mode_t mode) {
  if (S_ISLNK(mode)) return "a symlink";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Why what is at a reference's name is not one sparsync made: "" when it is
// a regular file of the effective user with one link (nobody else can have
// made it, nor can it be another file's second name).
std::string stranger(const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return file_kind(st.st_mode);
  if (st.st_uid != ::geteuid()) {
    return "owned by uid " + std::to_string(st.st_uid) + ", not by uid " + std::to_string(::geteuid());
  }
  if (st.st_nlink != 1) return "a file with " + std::to_string(st.st_nlink) + " links";
  return {};
}

// What is at `name` now: false with *err ENOENT when nothing.
bool stat_name(const ReferencePlace& place, const std::string& name, struct stat* st, int* err) {
  if (::fstatat(place.dir.get(), name.c_str(), st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  *err = errno;
  return false;
}

Status fsync_dir(const ReferencePlace& place) {
  if (::fsync(place.dir.get()) != 0) {
    return errno_status(ErrorKind::kSource, "cannot flush directory " + place.dir_shown, errno);
  }
  return Status::ok();
}

std::string filesystem_of(int fd) {
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0) return "an unknown filesystem";
  return filesystem_type_name(fs.f_type);
}

// The refusal for a filesystem that cannot reflink (FICLONE failed with `err`).
Status no_reflinks(const ReferencePlace& place, int source_fd, int err) {
  const std::string source = place.shown(place.source);
  const std::string advice = "; --changes reflink needs XFS (reflink=1) or btrfs; use --changes digest";
  if (err == EXDEV) {
    return Status(ErrorKind::kUsage, "cannot take a reflink copy of " + source + " in " + place.dir_shown +
                                         ": they are on different filesystems" + advice);
  }
  return Status(ErrorKind::kUsage, "cannot take a reflink copy of " + source + " on " + filesystem_of(source_fd) +
                                       " (" + std::strerror(err) + ")" + advice);
}

// Removes a leftover new reference of a run that crashed; refuses anything
// sparsync cannot have made, and one a run still holds (take_reference
// locks its copy for as long as it lives). Between the look and the unlink
// another user could only swap in a name of their own, which unlinking
// takes from them no more than they could take themselves.
Status clear_leftover(const ReferencePlace& place) {
  const std::string shown = place.shown(place.fresh);
  struct stat seen {};
  int err = 0;
  if (!stat_name(place, place.fresh, &seen, &err)) {
    if (err == ENOENT) return Status::ok();
    return errno_status(ErrorKind::kSource, "cannot look at " + shown, err);
  }
  const std::string refusal = "refusing to take a reflink reference: " + shown;
  std::string why = stranger(seen);
  if (!why.empty()) {
    return Status(ErrorKind::kSource,
                  refusal + " is " + why + ", not a leftover of sparsync; remove it or move it away");
  }
  UniqueFd fd(
      ::openat(place.dir.get(), place.fresh.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !same_inode(st, seen)) {
    return Status(ErrorKind::kSource, refusal + " changed while it was being looked at; run again");
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return errno_status(ErrorKind::kSource, "cannot lock " + shown, errno);
    return Status(ErrorKind::kSource, refusal + " belongs to another sparsync run of this image and target, " +
                                          "still going; wait for it to finish");
  }
  if (::unlinkat(place.dir.get(), place.fresh.c_str(), 0) != 0 && errno != ENOENT) {
    return errno_status(ErrorKind::kSource, "cannot remove the leftover " + shown, errno);
  }
  return Status::ok();
}

// Checks the source and opens it when the caller has not.
Result<UniqueFd> open_source(const ReferencePlace& place, int* source_fd) {
  UniqueFd own;
  const std::string shown = place.shown(place.source);
  if (*source_fd < 0) {
    own.reset(
        ::openat(place.dir.get(), place.source.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!own.valid()) return errno_status(ErrorKind::kSource, "cannot open " + shown, errno);
    *source_fd = own.get();
  }
  struct stat st {};
  if (::fstat(*source_fd, &st) != 0) return errno_status(ErrorKind::kSource, "cannot stat " + shown, errno);
  if (!S_ISREG(st.st_mode)) {
    return Status(ErrorKind::kUsage, "--changes reflink needs a raw image file, and " + shown + " is " +
                                         file_kind(st.st_mode) + "; use --changes digest");
  }
  return own;
}

}  // namespace

Result<ReferencePlace> reference_place(const ResolvedPath& where, const std::string& tag) {
  if (tag.size() > kMaxTag ||
      tag.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos) {
    return Status(ErrorKind::kUsage, "a reflink reference tag is up to 64 of [A-Za-z0-9_-], not '" + tag + "'");
  }
  ReferencePlace place;
  place.dir_shown = where.dir_shown;
  place.source = where.name;
  place.kept = "." + where.name + (tag.empty() ? "" : "." + tag) + ".sparsync-ref";
  place.fresh = place.kept + "-new";
  if (place.fresh.size() > NAME_MAX) {
    return Status(ErrorKind::kUsage, "cannot keep a reflink reference beside " + where.shown() + ": its name (" +
                                         place.fresh + ") would be longer than " + std::to_string(NAME_MAX) +
                                         " bytes; give the image a shorter name or use --changes digest");
  }
  // A readable descriptor, for fsync (the resolved one may be O_PATH).
  place.dir.reset(::openat(where.dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!place.dir.valid()) return errno_status(ErrorKind::kSource, "cannot open directory " + where.dir_shown, errno);
  return place;
}

Result<ReferencePlace> reference_place(const std::string& source_path, const std::string& tag, const PathTrust& trust) {
  auto where = resolve_path(source_path, ErrorKind::kSource, trust);
  if (!where.is_ok()) return where.status();
  if (!where.value().exists) return errno_status(ErrorKind::kSource, "cannot open " + where.value().shown(), ENOENT);
  return reference_place(where.value(), tag);
}

Result<ResolvedPath> reference_path(const ReferencePlace& place, const std::string& name) {
  ResolvedPath r;
  r.dir.reset(::fcntl(place.dir.get(), F_DUPFD_CLOEXEC, 0));
  if (!r.dir.valid()) return errno_status(ErrorKind::kSource, "cannot open directory " + place.dir_shown, errno);
  r.dir_shown = place.dir_shown;
  r.name = name;
  struct stat st {};
  r.exists = ::fstatat(place.dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  r.given = place.shown(name);
  return r;
}

Result<NewReference> take_reference(const ReferencePlace& place, int source_fd) {
  auto own = open_source(place, &source_fd);
  if (!own.is_ok()) return own.status();
  SPARSYNC_RETURN_IF_ERROR(clear_leftover(place));
  const std::string shown = place.shown(place.fresh);
  UniqueFd created(
      ::openat(place.dir.get(), place.fresh.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!created.valid()) return errno_status(ErrorKind::kSource, "cannot create " + shown, errno);
  NewReference ref;
  Status failed;
  struct stat made {};
  struct stat st {};
  // Locked before anything else, so that another run never takes it for a
  // leftover (clear_leftover); read-only once cloned, so that the run
  // cannot write it by mistake.
  if (::flock(created.get(), LOCK_SH | LOCK_NB) != 0) {
    failed = errno_status(ErrorKind::kSource, "cannot lock " + shown, errno);
  } else if (::ioctl(created.get(), FICLONE, source_fd) != 0) {
    const int err = errno;
    failed = (err == EOPNOTSUPP || err == EINVAL || err == EXDEV || err == ENOTTY)
                 ? no_reflinks(place, source_fd, err)
                 : errno_status(ErrorKind::kSource, "cannot take a reflink copy of " + place.shown(place.source), err);
  } else if (::fsync(created.get()) != 0) {
    failed = errno_status(ErrorKind::kSource, "cannot flush " + shown, errno);
  } else if (::fstat(created.get(), &made) != 0) {
    failed = errno_status(ErrorKind::kSource, "cannot stat " + shown, errno);
  } else {
    ref.fd.reset(::openat(place.dir.get(), place.fresh.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!ref.fd.valid() || ::fstat(ref.fd.get(), &st) != 0 || !same_inode(st, made) ||
        ::flock(ref.fd.get(), LOCK_SH | LOCK_NB) != 0) {
      failed = Status(ErrorKind::kSource, shown + " was replaced while it was being taken");
    }
  }
  if (!failed.is_ok()) {
    // Only what this call made (a stranger swapped in keeps its name).
    struct stat now {};
    int err = 0;
    if (::fstat(created.get(), &made) == 0 && stat_name(place, place.fresh, &now, &err) && same_inode(now, made)) {
      (void)::unlinkat(place.dir.get(), place.fresh.c_str(), 0);
    }
    return failed;
  }
  ref.identity = identity_of(st);
  return ref;
}

KeptReference open_kept_reference(const ReferencePlace& place, const NewReference& fresh) {
  KeptReference kept;
  const std::string shown = "kept reference " + place.shown(place.kept);
  struct stat seen {};
  int err = 0;
  // Looked at before it is opened: opening a device node can have effects.
  if (!stat_name(place, place.kept, &seen, &err)) {
    kept.refused = err == ENOENT ? "there is no kept reference yet" : shown + " cannot be read: " + std::strerror(err);
    return kept;
  }
  std::string why = stranger(seen);
  if (!why.empty()) {
    kept.refused = shown + " is " + why;
    return kept;
  }
  kept.fd.reset(
      ::openat(place.dir.get(), place.kept.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  struct stat st {};
  if (!kept.fd.valid() || ::fstat(kept.fd.get(), &st) != 0 || !same_inode(st, seen)) {
    kept.fd.reset();
    kept.refused = shown + " changed while it was being opened";
    return kept;
  }
  why = stranger(st);
  if (why.empty() && st.st_dev != fresh.identity.dev) why = "on another filesystem than the new reference";
  if (why.empty() && static_cast<uint64_t>(st.st_size) != fresh.identity.size) {
    why = std::to_string(st.st_size) + " bytes and the image now " + std::to_string(fresh.identity.size) +
          " (it was resized)";
  }
  if (!why.empty()) {
    kept.fd.reset();
    kept.refused = shown + " is " + why;
    return kept;
  }
  kept.identity = identity_of(st);
  return kept;
}

Result<ReferenceIdentity> keep_reference(const ReferencePlace& place, const NewReference& fresh) {
  const std::string from = place.shown(place.fresh);
  const std::string to = place.shown(place.kept);
  struct stat ours {};
  struct stat st {};
  int err = 0;
  if (::fstat(fresh.fd.get(), &ours) != 0) return errno_status(ErrorKind::kSource, "cannot stat " + from, errno);
  if (!stat_name(place, place.fresh, &st, &err) || !same_inode(st, ours)) {
    return Status(ErrorKind::kSource, "not keeping " + from + ": it was moved or replaced during the run");
  }
  bool replace = false;
  if (stat_name(place, place.kept, &st, &err)) {
    const std::string why = stranger(st);
    if (!why.empty()) {
      return Status(ErrorKind::kSource, "not keeping the reflink reference: " + to + " is " + why +
                                            ", not a reference sparsync made; remove it or move it away");
    }
    replace = true;
  } else if (err != ENOENT) {
    return errno_status(ErrorKind::kSource, "cannot look at " + to, err);
  }
  // Where nothing was at the kept name, nothing that appears there meanwhile
  // is replaced (RENAME_NOREPLACE; a plain rename where the filesystem has
  // no such flag).
  int rc = -1;
  if (!replace) {
    rc = ::renameat2(place.dir.get(), place.fresh.c_str(), place.dir.get(), place.kept.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && errno != EINVAL && errno != ENOSYS) {
      return errno_status(ErrorKind::kSource, "cannot rename " + from + " to " + to, errno);
    }
  }
  if (rc != 0 && ::renameat(place.dir.get(), place.fresh.c_str(), place.dir.get(), place.kept.c_str()) != 0) {
    return errno_status(ErrorKind::kSource, "cannot rename " + from + " to " + to, errno);
  }
  if (!stat_name(place, place.kept, &st, &err) || !same_inode(st, ours)) {
    return Status(ErrorKind::kSource, to + " was replaced while it was being kept");
  }
  SPARSYNC_RETURN_IF_ERROR(fsync_dir(place));
  // The rename moved ctime: the identity to bind is the one after it.
  if (::fstat(fresh.fd.get(), &ours) != 0) return errno_status(ErrorKind::kSource, "cannot stat " + to, errno);
  return identity_of(ours);
}

Status discard_reference(const ReferencePlace& place, const NewReference& fresh) {
  const std::string shown = place.shown(place.fresh);
  struct stat ours {};
  struct stat st {};
  int err = 0;
  if (::fstat(fresh.fd.get(), &ours) != 0) return errno_status(ErrorKind::kSource, "cannot stat " + shown, errno);
  if (!stat_name(place, place.fresh, &st, &err)) {
    if (err == ENOENT) return Status::ok();
    return errno_status(ErrorKind::kSource, "cannot look at " + shown, err);
  }
  if (!same_inode(st, ours)) {
    return Status(ErrorKind::kSource, "left " + shown + ": it is no longer the reference this run took");
  }
  if (::unlinkat(place.dir.get(), place.fresh.c_str(), 0) != 0 && errno != ENOENT) {
    return errno_status(ErrorKind::kSource, "cannot remove " + shown, errno);
  }
  return fsync_dir(place);
}

Status remove_references(const ReferencePlace& place, std::vector<std::string>* left) {
  bool removed = false;
  for (const std::string* name : {&place.fresh, &place.kept}) {
    struct stat st {};
    int err = 0;
    if (!stat_name(place, *name, &st, &err)) {
      if (err == ENOENT) continue;
      return errno_status(ErrorKind::kSource, "cannot look at " + place.shown(*name), err);
    }
    const std::string why = stranger(st);
    if (!why.empty()) {
      left->push_back("left " + place.shown(*name) + ": " + why + ", not a reference sparsync made");
      continue;
    }
    if (::unlinkat(place.dir.get(), name->c_str(), 0) != 0 && errno != ENOENT) {
      return errno_status(ErrorKind::kSource, "cannot remove " + place.shown(*name), errno);
    }
    removed = true;
  }
  return removed ? fsync_dir(place) : Status::ok();
}

std::string filesystem_type_name(int64_t f_type) {
  struct Known {
    int64_t magic;
    const char* name;
  };
  // Where a raw image may lie; the two that reflink come first.
  static constexpr Known kKnown[] = {
      {XFS_SUPER_MAGIC, "xfs"},     {BTRFS_SUPER_MAGIC, "btrfs"},
      {EXT4_SUPER_MAGIC, "ext4"},  // ext2 and ext3 have the same magic
      {TMPFS_MAGIC, "tmpfs"},       {OVERLAYFS_SUPER_MAGIC, "overlayfs"},
      {NFS_SUPER_MAGIC, "nfs"},     {SMB2_SUPER_MAGIC, "smb"},
      {CIFS_SUPER_MAGIC, "cifs"},   {F2FS_SUPER_MAGIC, "f2fs"},
      {0xca451a4e, "bcachefs"},     {0x2fc12fc1, "zfs"},
      {0x65735546, "fuse"},         {0x5346544e, "ntfs"},
      {EXFAT_SUPER_MAGIC, "exfat"}, {MSDOS_SUPER_MAGIC, "vfat"},
      {0x7461636f, "ocfs2"},        {CEPH_SUPER_MAGIC, "ceph"},
      {SQUASHFS_MAGIC, "squashfs"}, {RAMFS_MAGIC, "ramfs"},
  };
  for (const Known& k : kKnown) {
    if (k.magic == f_type) return k.name;
  }
  char hex[40];
  std::snprintf(hex, sizeof hex, "filesystem type 0x%" PRIx64, static_cast<uint64_t>(f_type));
  return hex;
}

}  // namespace sparsync
