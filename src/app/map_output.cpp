#include "app/map_output.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/units.h"

namespace sparsync {

std::string map_text(const ChangeMap& map, size_t columns) {
  if (map.cells().empty()) return "";
  if (columns == 0) columns = 80;
  size_t width = std::max<size_t>(columns, 3) - 2;
  // Appended piece by piece: GCC 12 misreports "literal" + std::string&&
  // as an overlapping memcpy (-Wrestrict) at -O2.
  std::string out = "[";
  out += map.render(width);
  out += "]\n";
  // What one column covers, as render() spreads the cells over the width.
  uint64_t per_column = map.image_size() / width + (map.image_size() % width != 0 ? 1 : 0);
  if (map.cells().size() < width) per_column = map.cell_bytes();
  out += "map: " + format_bytes(map.image_size()) + ", one column ~ " + format_bytes(per_column) +
         ": '#' data written, '~' zeroed, '.' unchanged, ' ' zeros on both sides\n";
  return out;
}

std::string map_report(const SyncRequest& request, size_t columns) {
  if (request.change_map == nullptr) return "";
  if (request.dry_run && request.pull) {
    return "map: not available for a dry-run pull (the far side plans and sends no operations)\n";
  }
  return map_text(*request.change_map, columns);
}

nlohmann::json map_json(const ChangeMap& map) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& [cell, count] : map.runs()) runs.push_back({ChangeMap::name(cell), count});
  return {{"cell_bytes", map.cell_bytes()}, {"runs", runs}};
}

}  // namespace sparsync
