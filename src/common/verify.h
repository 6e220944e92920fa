// End-to-end verification (--verify): after the sync, each side computes the
// SHA-256 of its whole image and of every 64 MiB region, in one read pass,
// and sends the digests to the other; both sides compare, so whichever side
// the user started learns the result and the first differing region.
// Holes are not read (zeros are fed to the digests instead).
// Thread-safety: one call per stream; it starts one helper thread.
#pragma once

#include <cstdint>
#include <string>

#include "common/device.h"
#include "common/frame_io.h"
#include "common/progress.h"

namespace sparsync {

struct VerifyOutcome {
  bool match = false;
  uint64_t first_difference = 0;  // start of the first differing region
  std::string local_sha256;       // hex digests of the whole image
  std::string peer_sha256;
};

// `progress` (may be null) counts the bytes hashed here in `verified`.
Status exchange_verify(Device& device, uint64_t size, FrameReader& in, FrameWriter& out, VerifyOutcome* outcome,
                       Progress* progress = nullptr);

// SHA-256 of [0, size) of the device and of each region, as sent on the wire.
Status digest_image(Device& device, uint64_t size, std::vector<uint8_t>* region_digests, uint8_t whole[32],
                    FrameWriter* out, Progress* progress = nullptr);

}  // namespace sparsync
