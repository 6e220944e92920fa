// libFuzzer target: the checkpoint record loader (decode_checkpoint of
// src/common/checkpoint_store.h) on arbitrary bytes, as a torn or corrupted
// record file would present them. A record that loads must save and load
// back to the same record. Each input is tried as it is and, to get past the
// XXH64 checksum to the layout checks, as a body with a correct checksum
// appended.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <xxhash.h>

#include "common/checkpoint_store.h"

namespace {

void check(const std::string& bytes) {
  auto record = sparsync::decode_checkpoint(bytes);
  if (!record) return;
  auto again = sparsync::decode_checkpoint(sparsync::encode_checkpoint(*record));
  if (!again || again->source_id != record->source_id || again->source_size != record->source_size ||
      again->block_size != record->block_size || again->hash_kind != record->hash_kind ||
      again->durable_offset != record->durable_offset || again->updated_unix != record->updated_unix) {
    fprintf(stderr, "fuzz_checkpoint: a loaded record does not round-trip\n");
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  check(bytes);
  uint64_t sum = XXH64(data, size, 0);
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((sum >> (8 * i)) & 0xff));
  check(bytes);
  return 0;
}
