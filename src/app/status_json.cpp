#include "app/status_json.h"

#include <nlohmann/json.hpp>

namespace sparsync {
namespace {

const char* since_name(TargetStatusFacts::Since since) {
  switch (since) {
    case TargetStatusFacts::Since::kUnchanged:
      return "unchanged";
    case TargetStatusFacts::Since::kChanged:
      return "changed";
    case TargetStatusFacts::Since::kUnknown:
      break;
  }
  return "unknown";
}

nlohmann::json checkpoint_json(const TargetStatusFacts& f) {
  if (!f.incomplete()) return nullptr;
  nlohmann::json j = {{"record", f.record_shown}, {"unreadable", f.record_unreadable}};
  if (f.record) {
    j["resume_offset"] = f.record->durable_offset;
    j["source_size"] = f.record->source_size;
    j["updated_unix"] = f.record->updated_unix;
  }
  return j;
}

nlohmann::json undo_json(const TargetStatusFacts& f) {
  if (!f.undo_unusable.empty()) return {{"unusable", f.undo_unusable}};
  if (f.undo_shown.empty()) return nullptr;
  return {{"journal", f.undo_shown}, {"bytes", f.undo_bytes}};
}

nlohmann::json synced_json(const TargetStatusFacts& f) {
  if (!f.synced_unix) return nullptr;
  nlohmann::json j = {{"unix", *f.synced_unix}, {"since", since_name(f.since)}};
  if (f.since == TargetStatusFacts::Since::kUnknown && !f.since_unknown.empty()) j["why"] = f.since_unknown;
  return j;
}

nlohmann::json generations_json(const TargetStatusFacts& f) {
  nlohmann::json kept = nlohmann::json::array();
  for (size_t i = 0; i < f.generations.size(); ++i) {
    const UndoGeneration& g = f.generations[i];
    kept.push_back({{"k", i + 1},
                    {"state_as_of_unix", g.facts.header.created_unix},
                    {"size", g.facts.header.old_size},
                    {"bytes", g.facts.bytes},
                    {"run_completed_unix", g.facts.modified_unix}});
  }
  return kept;
}

}  // namespace

std::string target_status_json(const TargetStatusFacts& f) {
  nlohmann::json j = {{"target", f.path},
                      {"state", f.incomplete() ? "incomplete" : "complete"},
                      {"checkpoint", checkpoint_json(f)},
                      {"undo", undo_json(f)},
                      {"synced", synced_json(f)},
                      {"generations", generations_json(f)},
                      {"rollback_interrupted", f.rollback_interrupted()}};
  if (!f.generations_unlisted.empty()) j["generations_unlisted"] = f.generations_unlisted;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sparsync
