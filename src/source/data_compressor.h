// DataCompressor: builds DATA_ZSTD payloads (--compress). A chunk that zstd
// cannot shrink goes as plain DATA instead, so incompressible images cost
// only the CPU of trying, never extra wire bytes.
// Thread-safety: one caller at a time (owns a zstd context and a buffer).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

struct ZSTD_CCtx_s;

namespace sparsync {

class DataCompressor {
 public:
  explicit DataCompressor(int level);
  ~DataCompressor();
  DataCompressor(const DataCompressor&) = delete;
  DataCompressor& operator=(const DataCompressor&) = delete;

  bool enabled() const { return level_ > 0; }
  // The DATA_ZSTD payload for these bytes, or null when compression would
  // not save anything. Valid until the next call.
  const std::vector<uint8_t>* compress(uint64_t offset, const uint8_t* bytes, uint32_t length);

 private:
  int level_;
  ZSTD_CCtx_s* ctx_ = nullptr;
  std::vector<uint8_t> payload_;
};

}  // namespace sparsync
