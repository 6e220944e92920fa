#include "app/job_report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "app/summary.h"
#include "common/printable.h"
#include "common/units.h"

namespace sparsync {
namespace {

int code_of(const Status& s) { return static_cast<int>(s.kind()); }

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

std::string percent_text(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", p);
  return buf;
}

std::string pad(const std::string& text, size_t width) {
  return text.size() >= width ? text + " " : text + std::string(width - text.size() + 1, ' ');
}

std::string hook_text(const char* which, const HookResult& h) {
  if (!h.ran) return "";
  return std::string(which) + (h.status.is_ok() ? " ok" : " FAILED (exit 9)") + " (" + seconds_text(h.seconds) + ")";
}

const PlannedEntry* planned_entry(const JobPlan& plan, const std::string& name) {
  for (const PlannedGroup& g : plan.groups) {
    for (const PlannedEntry& e : g.entries) {
      if (e.entry.name == name) return &e;
    }
  }
  return nullptr;
}

nlohmann::json hook_json(const HookResult& h) {
  if (!h.ran) return nullptr;
  nlohmann::json j = {{"ok", h.status.is_ok()}, {"seconds", h.seconds}};
  if (!h.status.is_ok()) j["error"] = printable(h.status.message());
  return j;
}

}  // namespace

int job_exit_code(const JobRun& run) {
  int code = 0;
  for (const EntryRun& e : run.entries) code = std::max(code, code_of(e.status));
  for (const GroupRun& g : run.groups) code = std::max({code, code_of(g.pre.status), code_of(g.post.status)});
  return code;
}

std::string job_table(const JobPlan& plan, const JobRun& run) {
  size_t failed = 0;
  for (const EntryRun& e : run.entries) failed += e.status.is_ok() ? 0 : 1;
  std::string out = "job " + plan.name + ": " + std::to_string(run.entries.size()) + " entries, " +
                    std::to_string(run.entries.size() - failed) + " synced, " + std::to_string(failed) + " failed; " +
                    std::to_string(run.logins) + " SSH login" + (run.logins == 1 ? "" : "s") + "; " +
                    seconds_text(run.seconds) + "\n";
  size_t name_w = 5, group_w = 5;
  for (const EntryRun& e : run.entries) {
    name_w = std::max(name_w, e.name.size());
    group_w = std::max(group_w, e.group.size());
  }
  out +=
      pad("ENTRY", name_w) + pad("GROUP", group_w) + pad("RESULT", 7) + pad("DATA", 10) + pad("CHANGED", 8) + "TIME\n";
  for (const EntryRun& e : run.entries) {
    std::string result = e.status.is_ok() ? "ok" : "exit " + std::to_string(code_of(e.status));
    bool synced = e.status.is_ok();
    out += pad(e.name, name_w) + pad(e.group, group_w) + pad(result, 7) +
           pad(synced ? format_bytes(e.outcome.stats.data_bytes) : "-", 10) +
           pad(synced ? percent_text(changed_percent(e.outcome.stats)) : "-", 8) + seconds_text(e.seconds) + "\n";
  }
  for (const GroupRun& g : run.groups) {
    std::string pre = hook_text("pre", g.pre), post = hook_text("post", g.post);
    if (pre.empty() && post.empty()) continue;
    out += "group " + g.name + ": " + pre + (pre.empty() || post.empty() ? "" : ", ") + post + "\n";
  }
  return out;
}

std::string job_json(const JobPlan& plan, const JobRun& run) {
  const int code = job_exit_code(run);
  nlohmann::json entries = nlohmann::json::array();
  for (const EntryRun& e : run.entries) {
    nlohmann::json j = nlohmann::json::object();
    const PlannedEntry* planned = planned_entry(plan, e.name);
    if (e.status.is_ok() && planned != nullptr) j = nlohmann::json::parse(summary_json(planned->request, e.outcome));
    j["name"] = e.name;
    j["group"] = e.group;
    j["ok"] = e.status.is_ok();
    j["exit_code"] = code_of(e.status);
    j["seconds"] = e.seconds;
    if (!e.status.is_ok()) j["error"] = printable(e.status.message());
    entries.push_back(j);
  }
  nlohmann::json groups = nlohmann::json::array();
  for (const GroupRun& g : run.groups)
    groups.push_back({{"name", g.name}, {"pre", hook_json(g.pre)}, {"post", hook_json(g.post)}});
  nlohmann::json doc = {{"job", plan.name},       {"ok", code == 0},          {"exit_code", code},
                        {"seconds", run.seconds}, {"ssh_logins", run.logins}, {"parallel", plan.parallel},
                        {"entries", entries},     {"groups", groups}};
  // As summary_json: a byte that is no UTF-8 is replaced, never thrown on.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sparsync
