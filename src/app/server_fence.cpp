#include "app/server_fence.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace sparsync {
namespace {

std::optional<std::string> real(const std::string& path, int* err) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) {
    *err = errno;
    return std::nullopt;
  }
  return std::string(buf);
}

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

std::optional<std::string> resolve_for_fence(const std::string& path, std::string* why) {
  if (path.empty()) {
    *why = "the path is empty";
    return std::nullopt;
  }
  int err = 0;
  if (auto r = real(path, &err)) return r;
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    // Something is there but does not resolve: a symlink pointing nowhere
    // (opening it would create the file wherever it points) or a loop.
    *why = S_ISLNK(st.st_mode) ? "it is a symlink that points to nothing here"
                               : std::string("it cannot be resolved: ") + std::strerror(err);
    return std::nullopt;
  }
  if (errno != ENOENT) {
    *why = std::string("it cannot be resolved: ") + std::strerror(errno);
    return std::nullopt;
  }
  // Nothing there yet: the target would be created in the parent directory.
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  size_t slash = trimmed.rfind('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : trimmed.substr(0, slash);
  std::string name = slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    *why = "its last component is '" + name + "'";
    return std::nullopt;
  }
  auto dir = real(parent, &err);
  if (!dir) {
    *why = "its directory " + parent + " cannot be resolved: " + std::strerror(err);
    return std::nullopt;
  }
  return (*dir == "/" ? "" : *dir) + "/" + name;
}

bool below_any_root(const std::string& resolved, const std::vector<std::string>& roots) {
  for (const auto& root : roots) {
    if (root == "/") return true;
    if (resolved == root) return true;
    if (resolved.size() > root.size() && resolved.compare(0, root.size(), root) == 0 &&
        resolved[root.size()] == '/') {
      return true;
    }
  }
  return false;
}

Status check_fence(const ServerFence& fence, proto::Role role, const std::string& path) {
  bool target = role == proto::Role::kServerIsTarget;
  if (target && fence.read_only) {
    return Status(ErrorKind::kUsage, "this host serves read-only (--read-only): it can be pulled from, not pushed to");
  }
  if (!target && fence.write_only) {
    return Status(ErrorKind::kUsage, "this host serves write-only (--write-only): it can be pushed to, not pulled from");
  }
  if (fence.allow_roots.empty()) return Status::ok();
  ErrorKind kind = target ? ErrorKind::kTarget : ErrorKind::kSource;
  std::vector<std::string> roots;
  for (const auto& r : fence.allow_roots) {
    int err = 0;
    auto resolved = real(r, &err);
    // A root that is missing allows nothing; said only when nothing else does.
    if (resolved) roots.push_back(*resolved);
  }
  std::string allowed = "--allow-root " + roots_text(fence.allow_roots);
  if (roots.empty()) {
    return Status(kind, "refusing " + path + ": none of the allowed directories exists on this host (" +
                            allowed + ")");
  }
  std::string why;
  auto resolved = resolve_for_fence(path, &why);
  if (!resolved) {
    return Status(kind, "refusing " + path + ": " + why + " (this host allows only paths below " +
                            roots_text(roots) + ")");
  }
  if (!below_any_root(*resolved, roots)) {
    std::string shown = *resolved == path ? path : path + " (" + *resolved + ")";
    return Status(kind, "refusing " + shown + ": outside the directories this host allows (" + allowed +
                            "); choose a path below " + roots_text(roots));
  }
  return Status::ok();
}

bool is_version_probe(const char* original_command) {
  if (original_command == nullptr) return false;
  std::string c(original_command);
  while (!c.empty() && (c.back() == ' ' || c.back() == '\n')) c.pop_back();
  static const std::string kSuffix = " --version";
  return c.size() > kSuffix.size() && c.compare(c.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

}  // namespace sparsync
