#include "app/summary.h"

#include "common/device.h"
#include "common/units.h"

#include <nlohmann/json.hpp>

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

std::string summary_json(const SyncRequest& request, const SyncOutcome& o) {
  const SyncStats& s = o.stats;
  nlohmann::json j = {
      {"ok", true},
      {"exit_code", 0},
      {"dry_run", request.dry_run},
      {"source", o.source_shown},
      {"target", o.target_shown},
      {"target_created", o.target_created},
      {"block_size", request.block_size},
      {"bytes_scanned", s.bytes_scanned},
      {"bytes_read", s.bytes_read},
      {"data_bytes", s.data_bytes},
      {"hole_bytes", s.hole_bytes},
      {"unchanged_blocks", s.unchanged_blocks},
      {"changed_blocks", s.changed_blocks},
      {"target_bytes_hashed", s.target_bytes_hashed},
      {"zero_method", zero_method_name(s.zero_method)},
      {"resumed_from", s.resumed_from},
      {"checkpoints", s.checkpoints},
      {"wire_bytes_out", s.wire_bytes_out},
      {"wire_bytes_in", s.wire_bytes_in},
      {"seconds", o.seconds},
      {"verified", o.verified},
  };
  if (o.verified) {
    j["verify_match"] = o.verify.match;
    j["sha256"] = o.verify.local_sha256;
  }
  return j.dump();
}

std::string failure_json(int exit_code, const std::string& message) {
  nlohmann::json j = {{"ok", false}, {"exit_code", exit_code}, {"error", message}};
  return j.dump();
}

}  // namespace sparsync
