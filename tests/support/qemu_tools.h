// The qemu tools the dirty-bitmap tests drive (qemu-img, qemu-io, qemu-nbd,
// qemu-storage-daemon): whether they are here, writes into an image or an
// export with qemu-io, and the dirty ranges an image's bitmap reports when
// served by NbdSource, as a list to compare with the expected one.
// Thread-safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "common/change_list.h"
#include "common/status.h"

namespace sparsync::testing {

// True when /usr/bin (or /usr/local/bin, /bin) holds an executable `program`.
bool have_program(const std::string& program);
// Why the qemu-utils tests cannot run here ("" when they can): a missing
// qemu-img, qemu-io or qemu-nbd, or libnbd.
std::string qemu_utils_missing();

// Writes `length` bytes of `pattern` at `offset` with qemu-io (`write -P`);
// `image` is a qcow2 file (format "qcow2") or an NBD URI (format "raw").
// Returns qemu-io's stderr on failure, "" on success.
std::string qemu_io_write(const std::string& image, const std::string& format, uint64_t offset, uint64_t length,
                          int pattern = 7);

// The ranges bitmap `name` of the qcow2 `image` marks dirty, read through
// NbdSource::serve_qcow2; an error when the image cannot be served or does
// not offer the bitmap.
Result<std::vector<ByteRange>> image_dirty_ranges(const std::string& image, const std::string& name);

// st_ctim of `path` in nanoseconds: what any change of the file moves.
int64_t ctime_ns(const std::string& path);

}  // namespace sparsync::testing
