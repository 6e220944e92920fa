// HELLO exchange (proto/PROTOCOL.md §3): the client speaks first, the server
// answers with its own HELLO or with an ERROR when it cannot speak the
// client's version. Both sides then use the intersection of feature bits.
// Thread-safety: plain functions over one stream.
#pragma once

#include <cstdint>

#include "common/frame_io.h"

namespace sparsync {

// Client side: sends HELLO, reads the server's, checks the version.
Status client_hello(FrameReader& in, FrameWriter& out, uint64_t* features);
// Server side: reads HELLO, answers it (or sends ERROR and fails).
Status server_hello(FrameReader& in, FrameWriter& out, uint64_t* features);

std::string software_version();

}  // namespace sparsync
