#include "app/job_plan.h"

#include <algorithm>
#include <set>
#include <thread>

#include "app/safety.h"

namespace sparsync {
namespace {

// The entry's words parsed on top of the command line's options: CLI11
// writes only the options it is given, so the rest stay as `base` had them.
Status entry_options(const JobEntry& entry, const CliOptions& base, CliOptions* out) {
  *out = base;
  out->source.clear();
  out->target.clear();
  std::vector<std::string> words{"sparsync"};
  words.insert(words.end(), entry.args.begin(), entry.args.end());
  std::vector<char*> argv;
  argv.reserve(words.size());
  for (std::string& w : words) argv.push_back(w.data());
  SPARSYNC_RETURN_IF_ERROR(parse_cli(static_cast<int>(argv.size()), argv.data(), out));
  out->source = entry.source;
  out->target = entry.target;
  return Status::ok();
}

Status plan_entry(const JobEntry& entry, const CliOptions& base, PlannedEntry* planned) {
  planned->entry = entry;
  SPARSYNC_RETURN_IF_ERROR(entry_options(entry, base, &planned->options));
  if (entry.source == "-") {
    return Status(ErrorKind::kUsage, "a job reads no source from stdin (-); give a file or device");
  }
  SPARSYNC_RETURN_IF_ERROR(build_request(planned->options, &planned->request));
  SPARSYNC_RETURN_IF_ERROR(resolve_locations(planned->options, &planned->request, &planned->remote));
  SPARSYNC_RETURN_IF_ERROR(check_sides(planned->request, planned->remote.remote));
  SPARSYNC_RETURN_IF_ERROR(changes_mode_from(planned->options, planned->request, &planned->changes));
  if (planned->remote.remote) planned->far_host = planned->remote.ssh.host;
  return Status::ok();
}

Status check_only(const JobSpec& spec, const std::vector<std::string>& only) {
  for (const std::string& name : only) {
    bool found = false;
    std::string names;
    for (const JobGroup& g : spec.groups) {
      for (const JobEntry& e : g.entries) {
        found = found || e.name == name;
        names += (names.empty() ? "" : ", ") + e.name;
      }
    }
    if (!found) {
      return Status(ErrorKind::kUsage,
                    "--only " + name + ": " + spec.path + " has no such entry (it has " + names + ")");
    }
  }
  return Status::ok();
}

}  // namespace

size_t JobPlan::entry_count() const {
  size_t n = 0;
  for (const PlannedGroup& g : groups) n += g.entries.size();
  return n;
}

int choose_parallel(int from_command_line, int from_file, int cores, size_t far_hosts, size_t entries) {
  int n = from_command_line > 0 ? from_command_line : from_file;
  if (n <= 0) n = std::min(8, std::max(cores, static_cast<int>(std::min<size_t>(far_hosts, 8))));
  return std::max(1, std::min(n, static_cast<int>(std::max<size_t>(entries, 1))));
}

Result<JobPlan> plan_job(const JobSpec& spec, const CliOptions& base) {
  SPARSYNC_RETURN_IF_ERROR(check_only(spec, base.only));
  JobPlan plan;
  plan.path = spec.path;
  plan.name = spec.name;
  std::set<std::string> far_hosts;
  for (const JobGroup& g : spec.groups) {
    PlannedGroup group;
    group.group = g;
    group.group.entries.clear();
    for (const JobEntry& e : g.entries) {
      // Every entry is checked, also those --only leaves out: a job file
      // with a bad entry is refused as a whole.
      PlannedEntry planned;
      Status s = plan_entry(e, base, &planned);
      if (!s.is_ok()) {
        return Status(ErrorKind::kUsage,
                      spec.path + ":" + std::to_string(e.line) + ": entry '" + e.name + "': " + s.message());
      }
      bool wanted = base.only.empty() || std::find(base.only.begin(), base.only.end(), e.name) != base.only.end();
      if (!wanted) continue;
      if (!planned.far_host.empty()) far_hosts.insert(planned.far_host);
      group.entries.push_back(std::move(planned));
    }
    if (!group.entries.empty()) plan.groups.push_back(std::move(group));
  }
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  plan.parallel = choose_parallel(base.parallel, spec.parallel, cores, far_hosts.size(), plan.entry_count());
  return plan;
}

}  // namespace sparsync
