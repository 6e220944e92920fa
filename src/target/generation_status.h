// What `sparsync --status TARGET` says about the kept generations of its
// undo journal (docs/undo-journal.md "Generations"): one line each, newest
// first, with the K that --rollback --to takes, the moment the state is
// from, the image size then and the bytes the generation holds; or that a
// rollback to one of them was interrupted.
// Thread-safety: plain function.
#pragma once

#include <string>
#include <vector>

#include "common/undo_generations.h"

namespace sparsync {

// "" when the target keeps none; else lines, each starting with a newline.
// `unlisted`: why they could not be listed ("" when they were).
std::string generations_text(const std::vector<UndoGeneration>& kept, const std::string& unlisted,
                             const std::string& path);

}  // namespace sparsync
