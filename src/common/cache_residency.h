// CacheResidency: how much of a byte range of an open file or block device is
// in the page cache right now, so that a cold read can go around the cache
// (common/direct_reader.h) while a cached one is served from it.
//
// It asks cachestat(2) (Linux 6.5+: one system call, no mapping) and, where
// the kernel lacks it, maps the range and asks mincore(2) (which does not
// fault pages in). Where neither answers, the range counts as not cached:
// reading it around the cache is correct, only slower if it was cached.
// Thread-safety: the free function is reentrant; the cachestat probe result
// is shared through an atomic.
#pragma once

#include <cstdint>

namespace sparsync {

// Pages of [offset, offset + length) resident in the page cache, out of
// *total (length rounded out to whole pages).
uint64_t cached_pages(int fd, uint64_t offset, uint64_t length, uint64_t* total);

// True when at least half of the range is cached: then reading it through
// the cache is cheaper than reading it from the disk again.
bool mostly_cached(int fd, uint64_t offset, uint64_t length);

}  // namespace sparsync
