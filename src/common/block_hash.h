// Block digests (XXH3-128 by default, SHA-256 on request) and the all-zero
// test. Pure functions. Thread-safety: reentrant.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/proto/protocol_constants.h"

namespace sparsync {

inline constexpr size_t kMaxDigest = 32;

// Writes hash_length(kind) bytes of the digest of [data, data+len) to out.
void digest_block(proto::HashKind kind, const uint8_t* data, size_t len, uint8_t* out);

// True when every byte is zero. Data blocks usually fail on the first word,
// so the common case costs nothing; zero blocks cost one memcmp pass.
bool is_all_zero(const uint8_t* data, size_t len);

}  // namespace sparsync
