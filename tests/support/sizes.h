// Byte sizes the tests build their images from, defined once: the test
// binaries are unity builds (tests/CMakeLists.txt), where each file's own copy
// of kMiB would collide with the next file's.
#pragma once

#include <cstdint>

namespace sparsync::testing {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;

}  // namespace sparsync::testing
