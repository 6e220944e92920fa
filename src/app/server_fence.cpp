#include "app/server_fence.h"

namespace sparsync {
namespace {

std::string roots_text(const std::vector<std::string>& roots) {
  std::string s;
  for (const auto& r : roots) s += (s.empty() ? "" : ", ") + r;
  return s;
}

}  // namespace

Status validate_fence(const ServerFence& fence) {
  if (fence.read_only && fence.write_only) {
    return Status(ErrorKind::kUsage, "--read-only and --write-only together leave nothing to do; give one");
  }
  return Status::ok();
}

bool below_any_root(const std::string& resolved, const std::vector<std::string>& roots) {
  for (const auto& root : roots) {
    if (path_is_below(resolved, root)) return true;
  }
  return false;
}

namespace {

Status check_role(const ServerFence& fence, proto::Role role) {
  bool target = role == proto::Role::kServerIsTarget;
  if (target && fence.read_only) {
    return Status(ErrorKind::kUsage, "this host serves read-only (--read-only): it can be pulled from, not pushed to");
  }
  if (!target && fence.write_only) {
    return Status(ErrorKind::kUsage,
                  "this host serves write-only (--write-only): it can be pushed to, not pulled from");
  }
  return Status::ok();
}

// The walk's own failures ("cannot open P: ...") read as the fence's refusal.
Status as_refusal(const Status& s, const std::string& path, const std::string& roots) {
  const std::string prefix = "cannot open " + path + ": ";
  std::string why =
      s.message().rfind(prefix, 0) == 0 ? "refusing " + path + ": " + s.message().substr(prefix.size()) : s.message();
  return Status(s.kind(), why + " (this host allows only paths below " + roots + ")");
}

// `dir` relative to `root`, both resolved, `dir` below `root` ("" when equal).
std::string relative_to(const std::string& dir, const std::string& root) {
  if (dir == root) return "";
  return dir.substr(root == "/" ? 1 : root.size() + 1);
}

}  // namespace

Result<ResolvedPath> fenced_resolve(const ServerFence& fence, proto::Role role, const std::string& path,
                                    const PathTrust& trust) {
  SPARSYNC_RETURN_IF_ERROR(check_role(fence, role));
  ErrorKind kind = role == proto::Role::kServerIsTarget ? ErrorKind::kTarget : ErrorKind::kSource;
  if (fence.allow_roots.empty()) return resolve_path(path, kind, trust);
  std::vector<OpenedDir> roots;
  std::vector<std::string> shown;
  for (const auto& r : fence.allow_roots) {
    // A root that is missing allows nothing; said only when nothing else does.
    auto opened = open_directory(r, kind, 0);
    if (!opened.is_ok()) continue;
    shown.push_back(opened.value().shown);
    roots.push_back(std::move(opened.value()));
  }
  std::string allowed = "--allow-root " + roots_text(fence.allow_roots);
  if (roots.empty()) {
    return Status(kind, "refusing " + path + ": none of the allowed directories exists on this host (" + allowed + ")");
  }
  auto resolved = resolve_path(path, kind, trust);
  if (!resolved.is_ok()) return as_refusal(resolved.status(), path, roots_text(shown));
  const ResolvedPath& where = resolved.value();
  for (const OpenedDir& root : roots) {
    if (!path_is_below(where.dir_shown, root.shown)) continue;
    bool checked = false;
    if (!kernel_confirms_beneath(root.fd.get(), relative_to(where.dir_shown, root.shown), where.dir.get(), &checked)) {
      return Status(kind, "refusing " + path + ": its directory changed while it was being checked against " + allowed +
                              "; run again");
    }
    return resolved;
  }
  std::string real = where.shown();
  std::string show = real == path ? path : path + " (" + real + ")";
  return Status(kind, "refusing " + show + ": outside the directories this host allows (" + allowed +
                          "); choose a path below " + roots_text(shown));
}

Status check_fence(const ServerFence& fence, proto::Role role, const std::string& path) {
  return fenced_resolve(fence, role, path).status();
}

bool is_version_probe(const char* original_command) {
  if (original_command == nullptr) return false;
  std::string c(original_command);
  while (!c.empty() && (c.back() == ' ' || c.back() == '\n')) c.pop_back();
  static const std::string kSuffix = " --version";
  return c.size() > kSuffix.size() && c.compare(c.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

}  // namespace sparsync
