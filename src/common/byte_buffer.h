// ByteBuffer: a byte vector whose resize() leaves new bytes uninitialised.
// Read buffers are overwritten by pread/read right away; zero-filling them
// first cost ~19 % of a sync's CPU (perf, docs/benchmarks.md).
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace sparsync {

template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}  // NOLINT
  // Value-initialisation (resize, vector(n)) becomes default-initialisation.
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    std::allocator_traits<std::allocator<T>>::construct(static_cast<std::allocator<T>&>(*this), p,
                                                        std::forward<Args>(args)...);
  }
};

using ByteBuffer = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

}  // namespace sparsync
