// What changed between two reflink copies of one image (source/
// reflink_reference.h), from their extent maps alone, reading no data: at
// each offset, the two copies still share the same physical bytes, or they
// do not. A reference is never written, and a shared extent is copied on
// write (XFS, btrfs), so while the older copy exists its physical bytes can
// neither change nor be handed to other data: the same physical address at
// the same offset means the same bytes.
//
// Counted as changed: an offset mapped in one copy and a hole in the other,
// mapped to different physical bytes, unwritten in one and written in the
// other, or mapped by an extent whose physical address says nothing about
// its bytes (FIEMAP_EXTENT_UNKNOWN, DELALLOC, ENCODED (btrfs compression),
// DATA_ENCRYPTED, NOT_ALIGNED, DATA_INLINE, DATA_TAIL, MERGED). A hole in
// both is unchanged. Extent boundaries do not matter: two copies may split
// or merge the same physical run differently.
//
// Thread-safety: a plain function; the two files must not be written
// meanwhile (they are references: nobody writes them).
#pragma once

#include <cstdint>

#include "common/change_list.h"
#include "common/status.h"

namespace sparsync {

// Adds to `out`, in increasing order, every range of [0, size) that differs
// between the extent maps of `kept_fd` and `new_fd` (see above); the tail
// past either file's last extent is a hole. Both maps are read with
// FS_IOC_FIEMAP (FIEMAP_FLAG_SYNC) a batch of kFiemapBatch extents at a
// time, so memory stays the same for any size of image. Fails (kSource,
// saying which reference; the caller adds the path) when FIEMAP fails, e.g.
// on a filesystem without it.
inline constexpr uint32_t kFiemapBatch = 512;
Status changed_extents(int kept_fd, int new_fd, uint64_t size, ChangeList* out);

}  // namespace sparsync
