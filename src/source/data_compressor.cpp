#include "source/data_compressor.h"

#include <zstd.h>

#include "common/byte_codec.h"

namespace sparsync {
namespace {
constexpr size_t kPrefix = 12;  // u64 offset, u32 raw length (PROTOCOL.md §4 DATA_ZSTD)
}

DataCompressor::DataCompressor(int level) : level_(level) {
  if (level_ > 0) ctx_ = ZSTD_createCCtx();
  if (ctx_ == nullptr) level_ = 0;
}

DataCompressor::~DataCompressor() { ZSTD_freeCCtx(ctx_); }

const std::vector<uint8_t>* DataCompressor::compress(uint64_t offset, const uint8_t* bytes,
                                                     uint32_t length) {
  payload_.resize(kPrefix + ZSTD_compressBound(length));
  size_t n = ZSTD_compressCCtx(ctx_, payload_.data() + kPrefix, payload_.size() - kPrefix, bytes,
                               length, level_);
  // Worth it only when the frame gets smaller than plain DATA would be.
  if (ZSTD_isError(n) || n + kPrefix >= static_cast<size_t>(length) + 8) return nullptr;
  payload_.resize(kPrefix + n);
  for (int i = 0; i < 8; ++i) payload_[static_cast<size_t>(i)] = static_cast<uint8_t>(offset >> (8 * i));
  for (int i = 0; i < 4; ++i) payload_[static_cast<size_t>(8 + i)] = static_cast<uint8_t>(length >> (8 * i));
  return &payload_;
}

}  // namespace sparsync
