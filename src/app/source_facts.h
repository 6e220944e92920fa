// What the target side learns about the source besides its bytes
// (PROTOCOL.md kFeatureSourceFacts): the permission bits a new target gets,
// and whether a block device source is in live use for writing, which no
// check can catch the way a file's ctime does (README "What is guaranteed").
// Thread-safety: plain functions of the system state.
#pragma once

#include <cstdint>
#include <string>

#include "common/device.h"

namespace sparsync {

struct SourceFacts {
  uint32_t mode = 0;  // permission bits of a regular file source; 0 unknown
  std::string live;   // how a block device source is in use for writing; "" when not seen
  // The one-line warning for a live source named `name`.
  std::string live_warning(const std::string& name) const;
};

SourceFacts source_facts(const Device& source);

}  // namespace sparsync
