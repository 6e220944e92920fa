#include "common/cache_residency.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <vector>

namespace sparsync {
namespace {

#ifdef __NR_cachestat
constexpr long kCachestatSyscall = __NR_cachestat;
#else
constexpr long kCachestatSyscall = 451;  // the same number on every architecture since 6.5
#endif

struct CachestatRange {
  uint64_t off;
  uint64_t len;
};
struct Cachestat {
  uint64_t nr_cache;
  uint64_t nr_dirty;
  uint64_t nr_writeback;
  uint64_t nr_evicted;
  uint64_t nr_recently_evicted;
};

std::atomic<bool> cachestat_missing{false};

uint64_t page_bytes() {
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

// -1 when cachestat is not there (ENOSYS) or refuses this file.
int64_t cachestat_pages(int fd, uint64_t offset, uint64_t length) {
  if (cachestat_missing.load(std::memory_order_relaxed)) return -1;
  CachestatRange range{offset, length};
  Cachestat stat{};
  if (::syscall(kCachestatSyscall, fd, &range, &stat, 0) == 0) return static_cast<int64_t>(stat.nr_cache);
  if (errno == ENOSYS) cachestat_missing.store(true, std::memory_order_relaxed);
  return -1;
}

int64_t mincore_pages(int fd, uint64_t offset, uint64_t length) {
  const uint64_t page = page_bytes();
  const uint64_t first = offset / page * page;
  const uint64_t span = offset + length - first;
  void* map = ::mmap(nullptr, span, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(first));
  if (map == MAP_FAILED) return -1;
  std::vector<unsigned char> resident((span + page - 1) / page);
  int64_t count = -1;
  if (::mincore(map, span, resident.data()) == 0) {
    count = 0;
    for (unsigned char r : resident) count += r & 1;
  }
  ::munmap(map, span);
  return count;
}

}  // namespace

uint64_t cached_pages(int fd, uint64_t offset, uint64_t length, uint64_t* total) {
  const uint64_t page = page_bytes();
  *total = (offset + length + page - 1) / page - offset / page;
  if (length == 0) return 0;
  int64_t pages = cachestat_pages(fd, offset, length);
  if (pages < 0) pages = mincore_pages(fd, offset, length);
  return pages < 0 ? 0 : static_cast<uint64_t>(pages);
}

bool mostly_cached(int fd, uint64_t offset, uint64_t length) {
  uint64_t total = 0;
  const uint64_t cached = cached_pages(fd, offset, length, &total);
  return total > 0 && cached * 2 >= total;
}

}  // namespace sparsync
