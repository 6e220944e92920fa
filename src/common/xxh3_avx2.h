// XXH3-128 through xxHash's AVX2 code path. Debian's libxxhash.a is built
// for baseline x86-64 (SSE2) and its runtime dispatcher is only in the shared
// library, so this one file includes xxHash inline and is compiled with
// -mavx2; block_hash.cpp calls it only on CPUs that have AVX2. XXH3's output
// does not depend on the code path (the xxHash spec), so both sides of a
// sync agree whichever path each took.
// Thread-safety: reentrant.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sparsync {

// True when this build has the AVX2 path (x86-64 only).
bool xxh3_avx2_built();
// The canonical (big-endian) 16-byte XXH3-128 digest of [data, data+len).
void xxh3_128_avx2(const uint8_t* data, size_t len, uint8_t* out);

}  // namespace sparsync
