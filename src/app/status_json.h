// `sparsync --status --json TARGET`: what --status reads of a target
// (target/target_status.h) as one JSON object, exact numbers and Unix
// times, for scripts and monitoring (docs/usage.md "Status"). A far
// target's object comes from its host and gains "host".
// Thread-safety: plain function.
#pragma once

#include <string>

#include "target/target_status.h"

namespace sparsync {

// One line of JSON (no newline); bytes that are no UTF-8 are replaced.
std::string target_status_json(const TargetStatusFacts& facts);

}  // namespace sparsync
