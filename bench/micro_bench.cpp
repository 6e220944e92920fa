// Micro-benchmarks (Google Benchmark) of the per-block work of a sync: block
// digests, the all-zero test and the planner. They report; nothing gates on
// them. Run by scripts/bench, whose output lands in docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "common/block_hash.h"
#include "source/planner.h"

namespace sparsync {
namespace {

constexpr uint32_t kBlock = 4096;
constexpr uint64_t kPiece = 1024 * 1024;  // the planner is fed 1 MiB chunks

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t x = rng();
    for (int b = 0; b < 8; ++b) v[i + b] = static_cast<uint8_t>(x >> (8 * b));
  }
  return v;
}

void BM_Digest(benchmark::State& state, proto::HashKind kind) {
  const size_t len = static_cast<size_t>(state.range(0));
  auto data = random_bytes(len, 1);
  uint8_t out[kMaxDigest];
  for (auto _ : state) {
    digest_block(kind, data.data(), len, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(len));
}
BENCHMARK_CAPTURE(BM_Digest, xxh3_128, proto::HashKind::kXxh3_128)->Arg(4096)->Arg(1 << 20);
BENCHMARK_CAPTURE(BM_Digest, sha256, proto::HashKind::kSha256)->Arg(4096)->Arg(1 << 20);

// Zero buffers cost a full pass; data buffers should stop at the first word.
void BM_IsAllZero(benchmark::State& state, bool zero) {
  const size_t len = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> data = zero ? std::vector<uint8_t>(len, 0) : random_bytes(len, 2);
  for (auto _ : state) benchmark::DoNotOptimize(is_all_zero(data.data(), len));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(len));
}
BENCHMARK_CAPTURE(BM_IsAllZero, zero, true)->Arg(4096)->Arg(1 << 20);
BENCHMARK_CAPTURE(BM_IsAllZero, data, false)->Arg(4096)->Arg(1 << 20);

// A non-zero buffer whose only non-zero byte is the last: the worst case.
void BM_IsAllZeroLastByte(benchmark::State& state) {
  const size_t len = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> data(len, 0);
  data.back() = 1;
  for (auto _ : state) benchmark::DoNotOptimize(is_all_zero(data.data(), len));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(len));
}
BENCHMARK(BM_IsAllZeroLastByte)->Arg(4096)->Arg(1 << 20);

enum class Case { kHoleVsZero, kDataVsZero, kDataEqual, kDataOnePercentChanged, kZeroVsData };

// One 1 MiB piece (256 blocks of 4 KiB) against a target in a given state.
void BM_PlanPiece(benchmark::State& state, Case c) {
  SessionParams params;
  params.image_size = 64 * kPiece;
  params.block_size = kBlock;
  params.hash_kind = proto::HashKind::kXxh3_128;
  const size_t blocks = kPiece / kBlock;
  const size_t dlen = proto::hash_length(params.hash_kind);

  std::vector<uint8_t> data = c == Case::kZeroVsData ? std::vector<uint8_t>(kPiece, 0) : random_bytes(kPiece, 3);
  std::vector<uint8_t> digests(blocks * dlen);
  for (size_t b = 0; b < blocks; ++b)
    digest_block(params.hash_kind, data.data() + b * kBlock, kBlock, &digests[b * dlen]);
  if (c == Case::kDataOnePercentChanged) {
    for (size_t b = 0; b < blocks; b += 100) digests[b * dlen] ^= 0xff;  // ~1 % of blocks differ
  }
  if (c == Case::kZeroVsData) {
    auto other = random_bytes(kPiece, 4);
    for (size_t b = 0; b < blocks; ++b)
      digest_block(params.hash_kind, other.data() + b * kBlock, kBlock, &digests[b * dlen]);
  }

  SourcePiece src{kPiece, kPiece, c == Case::kHoleVsZero ? nullptr : data.data()};
  TargetPiece tgt;
  tgt.zero = c == Case::kHoleVsZero || c == Case::kDataVsZero;
  tgt.digests = tgt.zero ? nullptr : digests.data();
  std::vector<PlanOp> ops;
  ops.reserve(blocks);
  for (auto _ : state) {
    ops.clear();
    PlanCounts counts;
    plan_piece(params, src, tgt, &ops, &counts);
    benchmark::DoNotOptimize(ops.data());
    benchmark::DoNotOptimize(counts);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kPiece));
}
BENCHMARK_CAPTURE(BM_PlanPiece, hole_vs_zero_target, Case::kHoleVsZero);
BENCHMARK_CAPTURE(BM_PlanPiece, data_vs_zero_target, Case::kDataVsZero);
BENCHMARK_CAPTURE(BM_PlanPiece, data_all_equal, Case::kDataEqual);
BENCHMARK_CAPTURE(BM_PlanPiece, data_1pct_changed, Case::kDataOnePercentChanged);
BENCHMARK_CAPTURE(BM_PlanPiece, zero_source_vs_data_target, Case::kZeroVsData);

}  // namespace
}  // namespace sparsync

BENCHMARK_MAIN();
