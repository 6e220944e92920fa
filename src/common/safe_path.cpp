#include "common/safe_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <deque>

namespace sparsync {
namespace {

// The kernel's own limit on symlinks in one lookup (MAXSYMLINKS).
constexpr int kMaxSymlinks = 40;

std::deque<std::string> components(const std::string& path) {
  std::deque<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  if (parts.empty()) return "/";
  std::string s;
  for (const auto& p : parts) s += "/" + p;
  return s;
}

bool trusted_owner(uid_t owner, const PathTrust& trust) {
  if (owner == 0 || owner == ::geteuid()) return true;
  return std::find(trust.symlink_owners.begin(), trust.symlink_owners.end(), owner) != trust.symlink_owners.end();
}

// One walk through a path; see resolve_path in the header.
class Walk {
 public:
  // `directory`: the path names a directory, which may end in "/", "." or
  // ".." or be "/" itself; its last component, if it exists, is entered
  // (open_directory). Otherwise the path names a file.
  Walk(const std::string& path, ErrorKind role, const PathTrust& trust, bool directory = false)
      : path_(path), role_(role), trust_(trust), directory_(directory) {}

  Result<ResolvedPath> run() {
    if (path_.empty()) return refuse("the path is empty");
    if (path_.find('\0') != std::string::npos) return refuse("the path contains a NUL byte");
    // The kernel too reads "disk.img/" as a directory (ENOTDIR), and a
    // missing "backups/vm1/" is no file to create.
    if (!directory_ && path_.back() == '/') {
      return refuse(
          "it ends with '/', so it names a directory, not an image file or block device; "
          "give the name of an image file inside it");
    }
    std::deque<std::string> todo = components(path_);
    SPARSYNC_RETURN_IF_ERROR(start(path_[0] == '/'));
    bool last_via_link = false;
    while (!todo.empty()) {
      std::string c = std::move(todo.front());
      todo.pop_front();
      const bool last = todo.empty();
      if (c == "." || c == "..") {
        if (last && !directory_) return refuse("its last component is '" + c + "'");
        if (c == "..") SPARSYNC_RETURN_IF_ERROR(up());
        continue;
      }
      struct stat st {};
      if (::fstatat(cur_.get(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT && last) {
          if (last_via_link) {
            return refuse("it is a symlink to " + here(c) +
                          ", which does not exist; sparsync does not "
                          "create files through symlinks");
          }
          return finish(c, false);
        }
        const int err = errno;
        Status failed = errno_status(role_, "cannot open " + path_ + ": " + here(c), err);
        if (err == ENOENT) return Status(role_, failed.message() + missing_directory_advice(c, todo));
        return failed;
      }
      if (S_ISLNK(st.st_mode)) {
        // What remains after a final symlink all comes from its target.
        if (last) last_via_link = true;
        SPARSYNC_RETURN_IF_ERROR(follow(c, st, &todo));
        continue;
      }
      if (last && !directory_) return finish(c, true);
      SPARSYNC_RETURN_IF_ERROR(enter(c, st));
    }
    if (directory_) return finish_here();
    // The path named a directory ("/", "/srv/"): no last component to open.
    return refuse(
        "it names a directory, not an image file or block device; give the name of an image file "
        "inside it");
  }

 private:
  Status refuse(const std::string& why) const { return Status(role_, "refusing " + path_ + ": " + why); }

  std::string here(const std::string& c) const { return (real_.empty() ? "" : join(real_)) + "/" + c; }

  // What to do about directory `c` missing on the way (`rest` follows it):
  // a target's directories are the user's to create (sparsync creates only
  // the file), a source's path is mistyped.
  std::string missing_directory_advice(const std::string& c, const std::deque<std::string>& rest) const {
    if (role_ != ErrorKind::kTarget) return "; check the path";
    std::string dir = here(c);
    for (size_t i = 0; i + 1 < rest.size(); ++i) dir += "/" + rest[i];
    if (directory_ && !rest.empty()) dir += "/" + rest.back();
    return "; create the directory first (mkdir -p " + dir + ") or check the path";
  }

  Status start(bool absolute) {
    real_.clear();
    if (!absolute) {
      char buf[PATH_MAX];
      if (::getcwd(buf, sizeof buf) == nullptr) {
        return errno_status(role_, "cannot resolve " + path_ + ": the working directory", errno);
      }
      for (auto& p : components(buf)) real_.push_back(std::move(p));
    }
    cur_.reset(::open(absolute ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!cur_.valid()) return errno_status(role_, "cannot open " + path_, errno);
    return Status::ok();
  }

  Status up() {
    UniqueFd parent(::openat(cur_.get(), "..", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!parent.valid()) return errno_status(role_, "cannot open " + path_ + ": " + here(".."), errno);
    cur_ = std::move(parent);
    if (!real_.empty()) real_.pop_back();
    return Status::ok();
  }

  // Enters directory `c`, which fstatat just saw as `seen`: opened without
  // following a symlink, and only if it is still that very directory.
  Status enter(const std::string& c, const struct stat& seen) {
    if (!S_ISDIR(seen.st_mode)) {
      return errno_status(role_, "cannot open " + path_ + ": " + here(c), ENOTDIR);
    }
    UniqueFd next(::openat(cur_.get(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat now {};
    if (!next.valid() || ::fstat(next.get(), &now) != 0 || now.st_dev != seen.st_dev || now.st_ino != seen.st_ino) {
      return refuse(here(c) + " changed while it was being opened; run again");
    }
    cur_ = std::move(next);
    real_.push_back(c);
    return Status::ok();
  }

  // Splices the target of symlink `c` into the components still to walk.
  Status follow(const std::string& c, const struct stat& st, std::deque<std::string>* todo) {
    if (++links_ > kMaxSymlinks) return errno_status(role_, "cannot open " + path_, ELOOP);
    if (!trusted_owner(st.st_uid, trust_)) {
      return refuse(here(c) + " is a symlink owned by uid " + std::to_string(st.st_uid) +
                    ", and sparsync follows only symlinks owned by root or by the user it runs as (uid " +
                    std::to_string(::geteuid()) + "); give the path it points to");
    }
    std::string target(PATH_MAX, '\0');
    ssize_t n = ::readlinkat(cur_.get(), c.c_str(), target.data(), target.size());
    if (n < 0) return errno_status(role_, "cannot read symlink " + here(c), errno);
    if (n == 0 || static_cast<size_t>(n) >= target.size()) {
      return refuse(here(c) + " is a symlink with an empty or overlong target");
    }
    target.resize(static_cast<size_t>(n));
    std::deque<std::string> parts = components(target);
    todo->insert(todo->begin(), parts.begin(), parts.end());
    if (target[0] == '/') return start(true);
    return Status::ok();
  }

  Result<ResolvedPath> finish(const std::string& name, bool exists) {
    ResolvedPath r;
    // A real descriptor where the directory can be read (fsync and
    // fdopendir need one); O_PATH where it cannot.
    r.dir.reset(::openat(cur_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!r.dir.valid()) r.dir = std::move(cur_);
    r.dir_shown = join(real_);
    r.name = name;
    r.exists = exists;
    r.given = path_;
    return r;
  }

  // The directory the walk ended in: `dir` is that directory, `name` empty.
  Result<ResolvedPath> finish_here() {
    ResolvedPath r;
    r.dir.reset(::openat(cur_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!r.dir.valid()) return errno_status(role_, "cannot open directory " + join(real_), errno);
    r.dir_shown = join(real_);
    r.exists = true;
    r.given = path_;
    return r;
  }

  const std::string& path_;
  ErrorKind role_;
  const PathTrust& trust_;
  const bool directory_;
  UniqueFd cur_;
  std::vector<std::string> real_;
  int links_ = 0;
};

}  // namespace

Result<ResolvedPath> resolve_path(const std::string& path, ErrorKind role, const PathTrust& trust) {
  return Walk(path, role, trust).run();
}

Result<OpenedDir> open_directory(const std::string& path, ErrorKind role, mode_t create_mode, const PathTrust& trust) {
  auto resolved = Walk(path, role, trust, true).run();
  if (!resolved.is_ok()) return resolved.status();
  ResolvedPath& r = resolved.value();
  if (r.name.empty()) return OpenedDir{std::move(r.dir), r.dir_shown};  // it exists, and was entered
  if (!r.exists && create_mode == 0) return errno_status(role, "cannot open directory " + r.shown(), ENOENT);
  if (!r.exists && ::mkdirat(r.dir.get(), r.name.c_str(), create_mode) != 0 && errno != EEXIST) {
    return errno_status(role, "cannot create directory " + r.shown(), errno);
  }
  OpenedDir d;
  d.fd.reset(::openat(r.dir.get(), r.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d.fd.valid()) {
    int err = errno == ELOOP ? ENOTDIR : errno;
    return errno_status(role, "cannot open directory " + r.shown(), err);
  }
  d.shown = r.shown();
  return d;
}

bool path_is_below(const std::string& dir, const std::string& root) {
  if (root == "/" || dir == root) return true;
  return dir.size() > root.size() && dir.compare(0, root.size(), root) == 0 && dir[root.size()] == '/';
}

bool kernel_confirms_beneath(int root_fd, const std::string& rel, int dir_fd, bool* checked) {
  *checked = false;
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, root_fd, rel.empty() ? "." : rel.c_str(), &how, sizeof how);
  if (fd < 0) {
    if (errno == ENOSYS) return true;  // an older kernel: the walk alone decides
    *checked = true;
    return false;
  }
  *checked = true;
  UniqueFd opened(static_cast<int>(fd));
  struct stat a {
  }, b{};
  return ::fstat(opened.get(), &a) == 0 && ::fstat(dir_fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

std::string unpredictable_name(const std::string& base) {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
    // getrandom cannot fail for 8 bytes once the pool is ready; mix what
    // differs between processes and calls rather than give up.
    r = static_cast<uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(&r);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
  return base + ".tmp." + hex;
}

}  // namespace sparsync
