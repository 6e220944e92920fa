#include "source/planner.h"

#include <cstring>

#include "common/block_hash.h"

namespace sparsync {
namespace {

void append(std::vector<PlanOp>* ops, OpKind kind, uint64_t offset, uint64_t length) {
  if (!ops->empty()) {
    PlanOp& last = ops->back();
    if (last.kind == kind && last.offset + last.length == offset) {
      last.length += length;
      return;
    }
  }
  ops->push_back(PlanOp{kind, offset, length});
}

}  // namespace

void plan_piece(const SessionParams& params, const SourcePiece& source, const TargetPiece& target,
                std::vector<PlanOp>* ops, PlanCounts* counts) {
  const size_t digest_len = proto::hash_length(params.hash_kind);
  // A hole against a zero target is the common case of sparse images: decide
  // the whole piece at once instead of block by block.
  if (source.data == nullptr && target.zero) {
    counts->unchanged_blocks += (source.length + params.block_size - 1) / params.block_size;
    return;
  }
  uint8_t digest[kMaxDigest];
  uint64_t done = 0;
  size_t index = 0;
  while (done < source.length) {
    uint64_t offset = source.offset + done;
    uint64_t len = params.block_length(offset / params.block_size);
    bool source_zero = source.data == nullptr || is_all_zero(source.data + done, len);
    bool changed;
    OpKind kind = OpKind::kData;
    if (source_zero) {
      changed = !target.zero;
      kind = OpKind::kHole;
    } else if (target.zero) {
      changed = true;
    } else {
      digest_block(params.hash_kind, source.data + done, len, digest);
      changed = std::memcmp(digest, target.digests + index * digest_len, digest_len) != 0;
    }
    if (changed) {
      ++counts->changed_blocks;
      append(ops, kind, offset, len);
    } else {
      ++counts->unchanged_blocks;
    }
    done += len;
    ++index;
  }
}

}  // namespace sparsync
