// Locks on images, so that sparsync runs exclude each other: a target is
// held with flock(LOCK_EX) for its whole run, a source with flock(LOCK_SH),
// so no two runs write one image at once and no run reads an image that
// another run is writing (docs/security.md "Safety rails"). A conflict fails at once,
// in one line naming the holder from /proc/locks: "another sparsync run
// (pid N)" when it is one of ours, "another process (pid N, COMM)" when not;
// only an automatic retry (`wait`) gives a previous run of its own up to
// kExclusiveWaitSeconds to wind down. A holder that is not a sparsync run
// is waited for up to kForeignHolderSeconds first: most often it is
// systemd-udevd, which holds LOCK_SH on a block device while it probes it
// after any writer closed it (systemd.io/BLOCK_DEVICE_LOCKING), so a run
// that starts right after another one finds it there for a moment.
// Programs that take no lock are not kept out.
// Thread-safety: plain functions.
#pragma once

#include <string>

#include "common/status.h"

namespace sparsync {

inline constexpr int kExclusiveWaitSeconds = 10;
inline constexpr int kForeignHolderSeconds = 3;

// Locks the image open as `fd` (`exclusive`: a target, else a source).
Status lock_image(int fd, const std::string& path, ErrorKind role, bool exclusive, bool wait);

}  // namespace sparsync
