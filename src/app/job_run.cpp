#include "app/job_run.h"

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <thread>

#include "app/job_hook.h"
#include "app/push_source.h"
#include "app/run_sync.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "transport/local_transport.h"
#include "transport/ssh_connection_pool.h"

namespace sparsync {
namespace {

using Clock = std::chrono::steady_clock;

struct Task {
  size_t group;
  const PlannedEntry* entry;
  size_t result;  // index into JobRun::entries
};

// A group's progress, shared by the workers running its entries.
struct GroupState {
  std::mutex mu;  // held while pre or post runs: the group's syncs wait for pre
  bool pre_done = false;
  bool pre_ok = true;
  size_t remaining = 0;
};

HookResult run_group_hook(const JobPlan& plan, const PlannedGroup& g, const std::string& command, const char* which) {
  HookResult result;
  if (command.empty()) return result;
  result.ran = true;
  log::verbose("group " + g.group.name + ": running " + which + ": " + command);
  HookRun run = run_hook(command, g.group.hook_timeout, plan.name, g.group.name, which);
  result.status = run.status;
  result.seconds = run.seconds;
  const std::string prefix = "group " + g.group.name + " " + which + ": ";
  size_t start = 0;
  while (start < run.output.size()) {
    size_t nl = run.output.find('\n', start);
    std::string line = run.output.substr(start, nl - start);
    if (run.status.is_ok()) {
      log::verbose(prefix + line);
    } else {
      log::error(prefix + line);
    }
    start = nl == std::string::npos ? run.output.size() : nl + 1;
  }
  if (!run.status.is_ok()) log::error(run.status.message());
  return result;
}

TransportFactory entry_connector(const PlannedEntry& e, SshConnectionPool* pool) {
  return [&e, pool]() -> Result<std::unique_ptr<Transport>> {
    if (e.remote.remote) return pool->open(e.remote.ssh);
    std::vector<std::string> argv{self_executable(), "--server", "-q"};
    auto local = LocalTransport::start(argv);
    if (!local.is_ok()) return local.status();
    return std::unique_ptr<Transport>(local.take());
  };
}

void run_entry(const PlannedEntry& e, SshConnectionPool* pool, EntryRun* out) {
  auto started = Clock::now();
  out->ran = true;
  SyncRequest request = e.request;
  request.progress = nullptr;
  // Checked now, not when the job was planned: a pre command may be what
  // creates the source (an LVM snapshot).
  Status s = Status::ok();
  if (!request.pull) {
    auto source = open_push_source(request);
    if (!source.is_ok()) s = source.status();
  }
  std::unique_ptr<ChangeTracker> tracker;
  if (s.is_ok() && e.changes.kind != ChangesMode::Kind::kNone) {
    auto created = ChangeTracker::create(e.changes, request, change_target_key(request, e.remote));
    if (created.is_ok()) tracker = created.take();
    s = created.status();
  }
  if (s.is_ok()) {
    request.changes = tracker.get();
    if (tracker) tracker->start_early(request);
    RetryPolicy policy{e.options.retries, e.options.retry_wait, 300};
    s = run_with_retries(entry_connector(e, pool), request, policy, &out->outcome);
    if (s.is_ok()) s = check_verify(out->outcome);
  }
  // As for one sync (app/sync_mode.cpp): the tracker moves on only from a
  // run the target confirmed.
  if (tracker && s.is_ok()) {
    Status kept = tracker->commit();
    if (!kept.is_ok()) log::error("entry " + e.entry.name + ": --changes: " + kept.message());
  } else if (tracker) {
    tracker->abandon();
  }
  out->status = s;
  out->seconds = std::chrono::duration<double>(Clock::now() - started).count();
  out->end_time = static_cast<double>(std::time(nullptr));
  if (!s.is_ok()) log::error("entry " + e.entry.name + ": " + s.message());
}

class JobRunner {
 public:
  JobRunner(const JobPlan& plan, JobRun* run) : plan_(plan), run_(run), states_(plan.groups.size()) {
    for (size_t g = 0; g < plan.groups.size(); ++g) {
      const PlannedGroup& group = plan.groups[g];
      run_->groups.push_back(GroupRun{group.group.name, {}, {}});
      states_[g].remaining = group.entries.size();
      for (const PlannedEntry& e : group.entries) {
        tasks_.push_back(Task{g, &e, run_->entries.size()});
        EntryRun r;
        r.name = e.entry.name;
        r.group = group.group.name;
        run_->entries.push_back(std::move(r));
      }
    }
  }

  void run() {
    std::vector<std::thread> workers;
    workers.reserve(static_cast<size_t>(plan_.parallel));
    for (int i = 0; i < plan_.parallel; ++i) workers.emplace_back([this] { work(); });
    for (std::thread& t : workers) t.join();
    run_->logins = pool_.logins();
  }

 private:
  void work() {
    for (;;) {
      size_t next = next_.fetch_add(1);
      if (next >= tasks_.size()) return;
      const Task& task = tasks_[next];
      if (enter_group(task.group)) {
        if (interrupted()) {
          run_->entries[task.result].status =
              Status(ErrorKind::kInterrupted, "interrupted before this entry started; run the job again");
        } else {
          run_entry(*task.entry, &pool_, &run_->entries[task.result]);
        }
      } else {
        run_->entries[task.result].status =
            Status(ErrorKind::kCommand,
                   "not run: the pre command of group '" + plan_.groups[task.group].group.name + "' failed");
      }
      if (!run_->entries[task.result].ran)
        run_->entries[task.result].end_time = static_cast<double>(std::time(nullptr));
      leave_group(task.group);
    }
  }

  // Runs the group's pre command if no entry of the group has yet; whether
  // the group's entries may run.
  bool enter_group(size_t g) {
    GroupState& state = states_[g];
    std::lock_guard<std::mutex> lock(state.mu);
    if (!state.pre_done) {
      const PlannedGroup& group = plan_.groups[g];
      run_->groups[g].pre = run_group_hook(plan_, group, group.group.pre, "pre");
      state.pre_ok = run_->groups[g].pre.status.is_ok();
      state.pre_done = true;
    }
    return state.pre_ok;
  }

  // The last entry of a group to end runs its post command.
  void leave_group(size_t g) {
    GroupState& state = states_[g];
    std::lock_guard<std::mutex> lock(state.mu);
    if (--state.remaining > 0) return;
    const PlannedGroup& group = plan_.groups[g];
    run_->groups[g].post = run_group_hook(plan_, group, group.group.post, "post");
  }

  const JobPlan& plan_;
  JobRun* run_;
  std::vector<GroupState> states_;
  std::vector<Task> tasks_;
  std::atomic<size_t> next_{0};
  SshConnectionPool pool_;
};

}  // namespace

JobRun run_job(const JobPlan& plan) {
  auto started = Clock::now();
  JobRun run;
  install_interrupt_handlers();
  JobRunner runner(plan, &run);
  runner.run();
  run.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return run;
}

}  // namespace sparsync
