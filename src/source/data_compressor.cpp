#include "source/data_compressor.h"

#include <zstd.h>

#include <cstring>

#include "common/proto/messages.h"

namespace sparsync {
namespace {
constexpr size_t kPrefix = proto::kDataZstdPrefixBytes;
}

DataCompressor::DataCompressor(int level) : level_(level) {
  if (level_ > 0) ctx_ = ZSTD_createCCtx();
  if (ctx_ == nullptr) level_ = 0;
}

DataCompressor::~DataCompressor() { ZSTD_freeCCtx(ctx_); }

const std::vector<uint8_t>* DataCompressor::compress(uint64_t offset, const uint8_t* bytes, uint32_t length) {
  payload_.resize(kPrefix + ZSTD_compressBound(length));
  size_t n = ZSTD_compressCCtx(ctx_, payload_.data() + kPrefix, payload_.size() - kPrefix, bytes, length, level_);
  // Worth it only when the frame gets smaller than plain DATA would be.
  if (ZSTD_isError(n) || n + kPrefix >= static_cast<size_t>(length) + proto::kDataPrefixBytes) return nullptr;
  payload_.resize(kPrefix + n);
  uint8_t prefix[kPrefix];
  proto::encode_data_zstd_prefix(offset, length, prefix);
  std::memcpy(payload_.data(), prefix, kPrefix);
  return &payload_;
}

}  // namespace sparsync
