// --map: where on the disk the run wrote, drawn at the end as a bar across
// the terminal (docs/usage.md "Change map"), or as run-length data in --json.
// Pure functions over a finished ChangeMap.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "app/sync_request.h"
#include "common/change_map.h"

namespace sparsync {

// Two lines for a terminal `columns` wide (80 when 0): the bar, framed as
// "[" + ChangeMap::render(columns - 2) + "]", and a legend saying what one
// column covers, each newline-terminated. Empty for an empty map.
std::string map_text(const ChangeMap& map, size_t columns);

// What --map prints after the summary line: map_text() of the request's map,
// or one line saying why there is none (a dry-run pull: the far side plans
// and sends no operations).
std::string map_report(const SyncRequest& request, size_t columns);

// {"cell_bytes": N, "runs": [["unchanged", 12], ["data", 3], ...]}; run
// lengths count cells of cell_bytes (the last cell may be short).
nlohmann::json map_json(const ChangeMap& map);

}  // namespace sparsync
