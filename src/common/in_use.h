// Safety rails: is a block device in use, and are two paths the same image?
//
// The exclusive open (O_EXCL, see device.h) already makes the kernel refuse a
// block device that a mounted filesystem, device mapper, md or swap holds; it
// cannot say by whom. These checks run first so the refusal names the mount
// point or the holder, from /proc/self/mountinfo (field 3, MAJ:MIN),
// /sys/dev/block/MAJ:MIN/holders and /proc/swaps. A device whose partitions
// are in use counts as in use.
//
// Syncing an image onto itself is refused: the same inode (st_dev+st_ino) for
// files, the same device number for block devices, and a loop device whose
// backing file (/sys/dev/block/MAJ:MIN/loop/backing_file) is the other path.
// Only possible when both paths are on this host; a push over SSH to this
// same host cannot be told apart from another host's path.
// Thread-safety: pure functions of the system state.
#pragma once

#include <sys/stat.h>

#include <string>

#include "common/status.h"

namespace sparsync {

// kTarget when the block device `path` (device number `rdev`) or one of its
// partitions is mounted (unless check_mounts is false), held by another
// device, or used as swap; says which and where. Unreadable /proc or /sys
// entries are not an error: the exclusive open still guards.
Status check_device_not_in_use(const std::string& path, dev_t rdev, bool check_mounts);

// kUsage when the target at `target_path` is the source (`source`, the
// stat of what the source names, shown as `source_name`). A missing target
// is never the source.
Status check_not_same(const struct stat& source, const std::string& source_name, const std::string& target_path);

// A block device *source* cannot be told unchanged the way a file can (no
// ctime moves when it is written): how it is in live use, so the user can
// be warned that blocks written during the run may be copied torn: "it is
// mounted read-write at /mnt", "its partition sdb1 is open for writing by
// pid 4242 (qemu-system-x86)"; "" when neither is seen.
std::string live_use(dev_t rdev);

// The mount point where `dev` is mounted read-write in a mountinfo text, or "".
std::string rw_mount_point_in(const std::string& mountinfo_text, dev_t dev);

// The first mount point of device `dev` in the text of a mountinfo file
// (octal escapes such as \040 decoded); empty when it is not mounted.
// Exposed for tests.
std::string mount_point_in(const std::string& mountinfo_text, dev_t dev);

}  // namespace sparsync
