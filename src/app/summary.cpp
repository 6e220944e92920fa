#include "app/summary.h"

#include "app/map_output.h"
#include "common/device.h"
#include "common/printable.h"
#include "common/units.h"

#include <nlohmann/json.hpp>

namespace sparsync {
namespace {

// Strings are printable() before they get here; should one slip through,
// invalid UTF-8 must cost a replacement character, not abort the run's
// report (dump() throws by default).
std::string dump_one_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string summary_line(const SyncRequest& request, const SyncOutcome& o) {
  const SyncStats& s = o.stats;
  double secs = o.seconds > 0 ? o.seconds : 1e-9;
  std::string line = request.dry_run ? "dry run " : "synced ";
  // The far side's path is escaped where it arrives; a local path with a
  // newline in its name must not split the line either.
  line += printable(o.source_shown) + " -> " + printable(o.target_shown) + ": ";
  line += format_bytes(s.bytes_scanned) + " scanned, ";
  line += format_bytes(s.data_bytes) + (request.dry_run ? " data would be sent, " : " sent as data, ");
  line += format_bytes(s.hole_bytes) + (request.dry_run ? " would be zeroed, " : " sent as holes, ");
  line += std::to_string(s.unchanged_blocks) + " blocks unchanged, ";
  line += std::to_string(s.changed_blocks) + " changed, ";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f s", o.seconds);
  line += buf;
  line += " (" + format_rate(static_cast<double>(s.bytes_scanned) / secs) + ")";
  // Fields after the rate are newer; scripts parse the part before it.
  line += ", wire " + format_bytes(s.wire_bytes_out) + " out, " + format_bytes(s.wire_bytes_in) + " in";
  if (!o.target_created) {
    std::snprintf(buf, sizeof(buf), "%.2f%%", changed_percent(s));
    line += std::string(", ") + buf + (request.dry_run ? " of the disk differs" : " of the disk changed");
  }
  if (s.resumed_from > 0) line += ", resumed at " + format_bytes(s.resumed_from);
  if (o.verified) line += ", verified (SHA-256 " + o.verify.local_sha256.substr(0, 16) + "...)";
  if (o.source_live) line += ", source was live (blocks written during the run may be torn)";
  if (!o.change_source.empty() && o.change_source != "full") line += ", changes from " + o.change_source;
  return line;
}

std::string summary_json(const SyncRequest& request, const SyncOutcome& o) {
  const SyncStats& s = o.stats;
  nlohmann::json j = {
      {"ok", true},
      {"exit_code", 0},
      {"dry_run", request.dry_run},
      {"source", printable(o.source_shown)},
      {"target", printable(o.target_shown)},
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
      {"undo_bytes", s.undo_bytes},
      {"generations_kept", s.generations_kept},
      {"wire_bytes_out", s.wire_bytes_out},
      {"wire_bytes_in", s.wire_bytes_in},
      {"changed_percent", changed_percent(s)},
      {"seconds", o.seconds},
      {"verified", o.verified},
      {"source_live", o.source_live},
      {"checkpoint_ignored",
       o.checkpoint_ignored.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.checkpoint_ignored)},
      {"change_source", o.change_source.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.change_source)},
      {"fallback_reason", o.fallback_reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.fallback_reason)},
  };
  if (request.change_map != nullptr) {
    // A dry-run pull has no map: the far side plans and sends no operations.
    j["map"] = request.dry_run && request.pull ? nlohmann::json(nullptr) : map_json(*request.change_map);
  }
  if (o.verified) {
    j["verify_match"] = o.verify.match;
    j["sha256"] = o.verify.local_sha256;
  }
  return dump_one_line(j);
}

double changed_percent(const SyncStats& s) {
  uint64_t blocks = s.changed_blocks + s.unchanged_blocks;
  return blocks == 0 ? 0.0 : 100.0 * static_cast<double>(s.changed_blocks) / static_cast<double>(blocks);
}

std::string describe_features(uint64_t features) {
  static const std::pair<uint64_t, const char*> kNames[] = {
      {proto::kFeatureXxh3, "xxh3"},
      {proto::kFeatureSha256, "sha256"},
      {proto::kFeatureCheckpoint, "checkpoints"},
      {proto::kFeatureZstd, "zstd"},
      {proto::kFeatureLanes, "lanes"},
      {proto::kFeatureSourceFacts, "source-facts"},
      {proto::kFeatureKeepalive, "keepalive"},
      {proto::kFeatureStop, "stop"},
      {proto::kFeatureGenerations, "generations"},
      {proto::kFeatureRollback, "rollback"},
  };
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if ((features & bit) == 0) continue;
    out += (out.empty() ? "" : ", ") + std::string(name);
    features &= ~bit;
  }
  if (features != 0) out += (out.empty() ? "" : ", ") + std::string("unknown bits ") + std::to_string(features);
  return out.empty() ? "none" : out;
}

std::vector<std::string> verbose_details(const SyncOutcome& o) {
  const SyncStats& s = o.stats;
  std::vector<std::string> lines;
  if (s.resumed_from > 0)
    lines.push_back("resumed at " + format_bytes(s.resumed_from) + " (a checkpoint of an earlier run)");
  lines.push_back(std::string("zeroing method on the target: ") + zero_method_name(s.zero_method));
  lines.push_back(std::to_string(s.checkpoints) + " checkpoint(s) acknowledged by the target");
  if (s.undo_bytes > 0 || s.generations_kept > 0) {
    lines.push_back("undo journal of this run: " + format_bytes(s.undo_bytes) +
                    "; generations kept: " + std::to_string(s.generations_kept));
  }
  lines.push_back("target hashed " + format_bytes(s.target_bytes_hashed) + ", source read " +
                  format_bytes(s.bytes_read));
  return lines;
}

std::string failure_json(int exit_code, const std::string& message) {
  nlohmann::json j = {{"ok", false}, {"exit_code", exit_code}, {"error", printable(message)}};
  return dump_one_line(j);
}

}  // namespace sparsync
