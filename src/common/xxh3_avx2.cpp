#include "common/xxh3_avx2.h"

#if defined(__x86_64__) && defined(__AVX2__)
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

#include <cstring>

namespace sparsync {

bool xxh3_avx2_built() { return true; }

void xxh3_128_avx2(const uint8_t* data, size_t len, uint8_t* out) {
  XXH128_canonical_t canon;
  XXH128_canonicalFromHash(&canon, XXH3_128bits(data, len));
  std::memcpy(out, canon.digest, sizeof(canon.digest));
}

}  // namespace sparsync

#else

namespace sparsync {

bool xxh3_avx2_built() { return false; }
void xxh3_128_avx2(const uint8_t*, size_t, uint8_t*) {}

}  // namespace sparsync

#endif
