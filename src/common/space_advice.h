// The rest of a "No space left on device" line: what the user must free.
// The image needs at most its size less what its file already holds (holes
// and unchanged blocks take no more), against what statvfs says is free to
// us. A full disk otherwise reads like a fault, and the user cannot tell
// whether a little cleaning or a bigger filesystem is needed.
// Thread-safety: a plain function.
#pragma once

#include <cstdint>
#include <string>

namespace sparsync {

// "; the 4.00 MiB image needs up to 3.00 MiB more space and its filesystem
// has 12.0 KiB free: ..." for the regular file open on `fd`; for anything
// else (a block device), or when fstat/fstatvfs fail, the advice alone.
std::string no_space_advice(int fd, uint64_t image_size);

}  // namespace sparsync
