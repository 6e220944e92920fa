#include "common/block_hash.h"

#include <openssl/sha.h>
#include <xxhash.h>

#include <cstring>

#include "common/xxh3_avx2.h"

namespace sparsync {
namespace {

bool use_avx2() {
#if defined(__x86_64__)
  static const bool yes = xxh3_avx2_built() && __builtin_cpu_supports("avx2");
  return yes;
#else
  return false;
#endif
}

}  // namespace

void digest_block(proto::HashKind kind, const uint8_t* data, size_t len, uint8_t* out) {
  if (kind == proto::HashKind::kSha256) {
    SHA256(data, len, out);
    return;
  }
  if (use_avx2()) {
    xxh3_128_avx2(data, len, out);
    return;
  }
  XXH128_canonical_t canon;
  XXH128_canonicalFromHash(&canon, XXH3_128bits(data, len));
  std::memcpy(out, canon.digest, sizeof(canon.digest));
}

bool is_all_zero(const uint8_t* data, size_t len) {
  constexpr size_t kProbe = 16;
  if (len < kProbe) {
    for (size_t i = 0; i < len; ++i)
      if (data[i] != 0) return false;
    return true;
  }
  for (size_t i = 0; i < kProbe; ++i)
    if (data[i] != 0) return false;
  // The first kProbe bytes are zero, so the whole range is zero exactly when
  // it equals itself shifted by kProbe bytes.
  return std::memcmp(data, data + kProbe, len - kProbe) == 0;
}

}  // namespace sparsync
