#include "target/target_open.h"

#include "common/checkpoint_store.h"
#include "common/in_use.h"
#include "common/units.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>

namespace sparsync {

std::string resolved_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) != nullptr) return buf;
  std::string::size_type slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (::realpath(dir.c_str(), buf) == nullptr) return path;
  std::string out = buf;
  if (out != "/") out += '/';
  return out + base;
}

namespace {

// Finds the checkpoint of an interrupted run and decides whether it applies:
// only a record naming this very source, size, block size and hash resumes.
Status decide_resume(const TargetOpenRequest& req, OpenedTarget* t) {
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  SPARSYNC_RETURN_IF_ERROR(load_checkpoint(t->checkpoint_path, &rec, &corrupt));
  if (corrupt) {
    t->notice = "ignoring unreadable checkpoint " + t->checkpoint_path + "; comparing from the start";
    return Status::ok();
  }
  if (!rec) return Status::ok();
  if (req.restart) {
    t->notice = "--restart: ignoring the checkpoint at " + format_bytes(rec->durable_offset);
    return Status::ok();
  }
  if (rec->source_id.empty() || rec->source_id != req.source_id || rec->source_size != req.source_size ||
      rec->block_size != req.block_size || rec->hash_kind != req.hash_kind) {
    t->notice = "the checkpoint of an interrupted run does not match this source (changed or "
                "another one); comparing from the start";
    return Status::ok();
  }
  t->resume_offset = rec->durable_offset;
  t->notice = "resuming an interrupted run at " + format_bytes(rec->durable_offset) + " of " +
              format_bytes(rec->source_size);
  return Status::ok();
}

}  // namespace

Result<std::string> target_status(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_status(ErrorKind::kTarget, "cannot stat " + path, errno);
  std::string cp = checkpoint_path(resolved_path(path), S_ISBLK(st.st_mode));
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  SPARSYNC_RETURN_IF_ERROR(load_checkpoint(cp, &rec, &corrupt));
  if (corrupt) return path + ": incomplete (checkpoint " + cp + " is unreadable; the next run compares from the start)";
  if (!rec) return path + ": complete (no interrupted sync recorded)";
  return path + ": incomplete: an interrupted sync is checkpointed at " + format_bytes(rec->durable_offset) +
         " of " + format_bytes(rec->source_size) + "; the next run from the same source resumes there";
}

Result<OpenedTarget> open_target(const TargetOpenRequest& req) {
  OpenedTarget t;
  t.reply.path = resolved_path(req.path);
  struct stat st {};
  if (::stat(req.path.c_str(), &st) != 0) {
    if (errno != ENOENT) return errno_status(ErrorKind::kTarget, "cannot stat " + req.path, errno);
    t.known_zero = true;
    t.reply.kind = proto::DeviceKind::kRegularFile;
    t.reply.size = 0;
    if (req.dry_run) {
      t.reply.state = proto::TargetState::kMissingDryRun;
      return t;
    }
    auto created = FileDevice::create(req.path, req.source_size);
    if (!created.is_ok()) return created.status();
    std::unique_ptr<FileDevice> dev = created.take();
    dev->enable_direct_writes();  // where refused, all writes stay buffered
    t.device = std::move(dev);
    t.reply.state = proto::TargetState::kCreated;
    t.created_in = directory_of(t.reply.path);
    t.checkpoint_path = checkpoint_path(t.reply.path, false);
    // A stale record beside a file that is gone describes nothing.
    SPARSYNC_RETURN_IF_ERROR(remove_checkpoint(t.checkpoint_path));
    return t;
  }
  if (S_ISBLK(st.st_mode) && !req.dry_run) {
    SPARSYNC_RETURN_IF_ERROR(check_device_not_in_use(req.path, st.st_rdev, !req.force));
  }
  auto opened = FileDevice::open(req.path, !req.dry_run, ErrorKind::kTarget, req.retry);
  if (!opened.is_ok()) return opened.status();
  std::unique_ptr<FileDevice> dev = opened.take();
  const uint64_t old_size = dev->size();
  t.reply.kind = dev->kind();
  t.reply.state = proto::TargetState::kExisting;
  t.reply.size = old_size;
  if (dev->kind() == proto::DeviceKind::kBlockDevice) {
    if (old_size < req.source_size) {
      return Status(ErrorKind::kTarget,
                    "target device " + req.path + " holds " + std::to_string(old_size) +
                        " bytes, less than the source's " + std::to_string(req.source_size) +
                        "; give a device at least as large");
    }
    if (old_size > req.source_size && !req.allow_larger_target) {
      return Status(ErrorKind::kTarget,
                    "target device " + req.path + " holds " + std::to_string(old_size) +
                        " bytes, more than the source's " + std::to_string(req.source_size) +
                        "; pass --allow-larger-target to sync only the first " +
                        std::to_string(req.source_size) + " bytes");
    }
    t.readable_size = req.source_size;
  } else {
    t.readable_size = std::min(old_size, req.source_size);
    if (old_size != req.source_size && !req.dry_run) {
      SPARSYNC_RETURN_IF_ERROR(dev->set_size(req.source_size));
    }
    // An empty file has nothing to compare: stream straight through.
    t.known_zero = old_size == 0;
  }
  if (!req.dry_run) dev->enable_direct_writes();  // where refused, all writes stay buffered
  t.device = std::move(dev);
  if (!req.dry_run) {
    t.checkpoint_path = checkpoint_path(t.reply.path, t.reply.kind == proto::DeviceKind::kBlockDevice);
    SPARSYNC_RETURN_IF_ERROR(decide_resume(req, &t));
  }
  return t;
}

}  // namespace sparsync
