#include "target/target_open.h"

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
    t.device = created.take();
    t.reply.state = proto::TargetState::kCreated;
    return t;
  }
  auto opened = FileDevice::open(req.path, !req.dry_run, ErrorKind::kTarget);
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
  t.device = std::move(dev);
  return t;
}

}  // namespace sparsync
