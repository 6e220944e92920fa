// How GoogleTest prints a ByteRange in a failed assertion: "[offset, +length)"
// in bytes, not as 16 raw bytes. Found by argument-dependent lookup.
// Thread-safety: a pure function.
#pragma once

#include <ostream>

#include "common/change_list.h"

namespace sparsync {

inline void PrintTo(const ByteRange& range, std::ostream* os) {
  *os << "[" << range.offset << ", +" << range.length << ")";
}

}  // namespace sparsync
