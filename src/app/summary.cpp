#include "app/summary.h"

#include "common/device.h"
#include "common/units.h"

namespace sparsync {

std::string summary_line(const SyncRequest& request, const SyncOutcome& o) {
  const SyncStats& s = o.stats;
  double secs = o.seconds > 0 ? o.seconds : 1e-9;
  std::string line = request.dry_run ? "dry run " : "synced ";
  line += o.source_shown + " -> " + o.target_shown + ": ";
  line += format_bytes(s.bytes_scanned) + " scanned, ";
  line += format_bytes(s.data_bytes) + (request.dry_run ? " data would be sent, " : " sent as data, ");
  line += format_bytes(s.hole_bytes) + (request.dry_run ? " would be zeroed, " : " sent as holes, ");
  line += std::to_string(s.unchanged_blocks) + " blocks unchanged, ";
  line += std::to_string(s.changed_blocks) + " changed, ";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f s", o.seconds);
  line += buf;
  line += " (" + format_rate(static_cast<double>(s.bytes_scanned) / secs) + ")";
  if (s.resumed_from > 0) line += ", resumed at " + format_bytes(s.resumed_from);
  if (o.verified) line += ", verified (SHA-256 " + o.verify.local_sha256.substr(0, 16) + "...)";
  return line;
}

}  // namespace sparsync
