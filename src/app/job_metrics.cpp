#include "app/job_metrics.h"

#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "app/job_report.h"
#include "app/metrics_file.h"

namespace sparsync {
namespace {

std::string entry_labels(const std::string& job, const std::string& entry) {
  return "job=\"" + escape_label_value(job) + "\",entry=\"" + escape_label_value(entry) + "\",";
}

const PlannedEntry* planned_entry(const JobPlan& plan, const std::string& name) {
  for (const PlannedGroup& g : plan.groups) {
    for (const PlannedEntry& e : g.entries) {
      if (e.entry.name == name) return &e;
    }
  }
  return nullptr;
}

// The previous file's sample lines of this job's entries that this run did
// not run (--only), by metric name, to be written again as they were.
std::map<std::string, std::vector<std::string>> kept_samples(const std::string& job, const JobRun& run,
                                                             const std::string& previous) {
  std::set<std::string> ran;
  for (const EntryRun& e : run.entries) ran.insert(entry_labels(job, e.name));
  const std::string mine = "{job=\"" + escape_label_value(job) + "\",entry=\"";
  std::map<std::string, std::vector<std::string>> kept;
  std::istringstream in(previous);
  for (std::string line; std::getline(in, line);) {
    size_t brace = line.find('{');
    if (line.empty() || line[0] == '#' || brace == std::string::npos) continue;
    if (line.compare(brace, mine.size(), mine) != 0) continue;
    size_t entry_end = line.find("\",", brace + mine.size());
    if (entry_end == std::string::npos) continue;
    if (ran.count(line.substr(brace + 1, entry_end + 2 - brace - 1)) != 0) continue;
    kept[line.substr(0, brace)].push_back(line);
  }
  return kept;
}

struct Series {
  std::string help;
  std::vector<std::string> lines;
};

void add(std::vector<std::pair<std::string, Series>>* series, const std::string& name, const std::string& help,
         const std::string& line) {
  for (auto& [n, s] : *series) {
    if (n == name) {
      s.lines.push_back(line);
      return;
    }
  }
  series->emplace_back(name, Series{help, {line}});
}

std::string number(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

void add_job_series(std::vector<std::pair<std::string, Series>>* series, const JobPlan& plan, const JobRun& run) {
  const std::string job = "job=\"" + escape_label_value(plan.name) + "\"";
  add(series, "sparsync_job_exit_code", "Exit code of the job's last run (docs/usage.md \"Jobs\").",
      "sparsync_job_exit_code{" + job + "} " + std::to_string(job_exit_code(run)));
  add(series, "sparsync_job_duration_seconds", "Wall time of the job's last run.",
      "sparsync_job_duration_seconds{" + job + "} " + number(run.seconds, 3));
  add(series, "sparsync_job_ssh_logins", "SSH logins the job's last run made.",
      "sparsync_job_ssh_logins{" + job + "} " + std::to_string(run.logins));
  for (const GroupRun& g : run.groups) {
    for (const auto& [which, hook] : {std::pair<const char*, const HookResult*>{"pre", &g.pre}, {"post", &g.post}}) {
      if (!hook->ran) continue;
      add(series, "sparsync_job_command_failed", "1 when the group's pre or post command failed in the last run.",
          "sparsync_job_command_failed{" + job + ",group=\"" + escape_label_value(g.name) + "\",command=\"" + which +
              "\"} " + (hook->status.is_ok() ? "0" : "1"));
    }
  }
}

}  // namespace

std::string job_metrics_text(const JobPlan& plan, const JobRun& run, const std::string& previous) {
  std::vector<std::pair<std::string, Series>> series;
  for (const EntryRun& e : run.entries) {
    const PlannedEntry* planned = planned_entry(plan, e.name);
    MetricsRun m{planned != nullptr ? planned->entry.target : "",
                 e.end_time,
                 e.seconds,
                 static_cast<int>(e.status.kind()),
                 e.outcome.stats,
                 !e.outcome.change_source.empty() && e.outcome.change_source != "full",
                 e.outcome.change_source,
                 e.outcome.fallback_reason};
    const std::string labels = entry_labels(plan.name, e.name);
    std::optional<std::string> last_success;
    if (!e.status.is_ok()) last_success = find_last_success(previous, labels);
    const std::string label = "{" + labels + "target=\"" + escape_label_value(m.target) + "\"}";
    for (const MetricSample& s : metric_samples(m, last_success))
      add(&series, s.name, s.help, s.name + label + " " + s.value);
    if (auto info = change_info(m)) {
      add(&series, kChangeInfoName, kChangeInfoHelp,
          std::string(kChangeInfoName) + "{" + labels + "target=\"" + escape_label_value(m.target) + "\"," +
              info->labels + "} 1");
    }
  }
  for (auto& [name, lines] : kept_samples(plan.name, run, previous)) {
    for (const std::string& line : lines) add(&series, name, "", line);
  }
  add_job_series(&series, plan, run);
  std::string out;
  for (const auto& [name, s] : series) {
    if (!s.help.empty()) out += "# HELP " + name + " " + s.help + "\n";
    out += "# TYPE " + name + " gauge\n";
    for (const std::string& line : s.lines) out += line + "\n";
  }
  return out;
}

Status write_job_metrics(const std::string& path, const JobPlan& plan, const JobRun& run) {
  return replace_metrics_file(path, [&](const std::string& previous) { return job_metrics_text(plan, run, previous); });
}

}  // namespace sparsync
