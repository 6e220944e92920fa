#include "transport/lane_listener.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/log.h"

namespace sparsync {
namespace {

// Room for lane data to arrive while the reader is on another lane.
constexpr int kLaneReceiveBuffer = 1 << 20;

// The directory for the socket: the user's runtime directory when it has
// one (private, in RAM), else TMPDIR, else /tmp; sun_path holds 108 bytes.
std::string socket_parent() {
  for (const char* var : {"XDG_RUNTIME_DIR", "TMPDIR"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v == '/' && std::strlen(v) < 64 && ::access(v, W_OK | X_OK) == 0) return v;
  }
  return "/tmp";
}

// Waits until `fd` is readable or the deadline passes; false on timeout.
bool wait_readable(int fd, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
}

// Reads the lane preamble from a fresh connection, within the deadline.
bool read_preamble(int fd, std::chrono::steady_clock::time_point deadline, proto::LanePreamble* out) {
  uint8_t buf[proto::kLanePreambleBytes];
  size_t have = 0;
  while (have < sizeof(buf)) {
    if (!wait_readable(fd, deadline)) return false;
    ssize_t n = ::recv(fd, buf + have, sizeof(buf) - have, MSG_DONTWAIT);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    have += static_cast<size_t>(n);
  }
  return proto::decode(std::span<const uint8_t>(buf, sizeof(buf)), out).is_ok();
}

// A decimal id from the environment, or nullopt.
std::optional<unsigned long> env_id(const char* var) {
  const char* v = std::getenv(var);
  if (v == nullptr || *v == '\0') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long id = std::strtoul(v, &end, 10);
  if (errno != 0 || *end != '\0' || id > 0xfffffffeul) return std::nullopt;
  return id;
}

}  // namespace

std::optional<LaneOwner> sudo_caller() {
  auto uid = env_id("SUDO_UID");
  auto gid = env_id("SUDO_GID");
  if (!uid || !gid || static_cast<uid_t>(*uid) == ::geteuid()) return std::nullopt;
  return LaneOwner{static_cast<uid_t>(*uid), static_cast<gid_t>(*gid)};
}

Result<std::unique_ptr<LaneListener>> LaneListener::create(std::optional<LaneOwner> owner) {
  std::unique_ptr<LaneListener> l(new LaneListener());
  const std::string parent = socket_parent();
  SPARSYNC_RETURN_IF_ERROR(l->make_directory(parent));
  const std::string path = parent + "/" + l->name_ + "/s";
  // Bound where the directory is, whatever its name leads to by now.
  const std::string bound = "/proc/self/fd/" + std::to_string(l->dir_fd_.get()) + "/s";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return Status(ErrorKind::kTarget, "lane socket path " + path + " is too long");
  }
  std::memcpy(addr.sun_path, bound.c_str(), bound.size() + 1);
  l->listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!l->listener_.valid()) return errno_status(ErrorKind::kTarget, "socket", errno);
  if (::bind(l->listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(l->listener_.get(), proto::kMaxLanes) != 0) {
    return errno_status(ErrorKind::kTarget, "listening on " + path, errno);
  }
  // The socket first, while the directory is still only ours.
  if (owner && (::fchownat(l->dir_fd_.get(), "s", owner->uid, owner->gid, AT_SYMLINK_NOFOLLOW) != 0 ||
                ::fchown(l->dir_fd_.get(), owner->uid, owner->gid) != 0)) {
    return errno_status(ErrorKind::kTarget, "handing the lane socket " + path + " to uid " + std::to_string(owner->uid),
                        errno);
  }
  if (::getrandom(l->offer_.token.data(), l->offer_.token.size(), 0) != static_cast<ssize_t>(l->offer_.token.size())) {
    return errno_status(ErrorKind::kInternal, "getrandom", errno);
  }
  l->offer_.path = path;
  return l;
}

// mkdtemp, relative to an fd of `parent`, then an fd of the result that
// is checked to be the 0700 directory this process just made.
Status LaneListener::make_directory(const std::string& parent) {
  parent_fd_.reset(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!parent_fd_.valid()) return errno_status(ErrorKind::kTarget, "opening " + parent + " for lanes", errno);
  for (int attempt = 0; attempt < 16 && name_.empty(); ++attempt) {
    uint8_t r[6];
    if (::getrandom(r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
      return errno_status(ErrorKind::kInternal, "getrandom", errno);
    }
    char name[32];
    std::snprintf(name, sizeof name, "sparsync-lanes-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
    if (::mkdirat(parent_fd_.get(), name, 0700) == 0) {
      name_ = name;
    } else if (errno != EEXIST) {
      return errno_status(ErrorKind::kTarget, "creating a directory for lanes in " + parent, errno);
    }
  }
  if (name_.empty())
    return Status(ErrorKind::kTarget, "creating a directory for lanes in " + parent + ": all names taken");
  dir_fd_.reset(::openat(parent_fd_.get(), name_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!dir_fd_.valid() || ::fstat(dir_fd_.get(), &st) != 0 || st.st_uid != ::geteuid() || (st.st_mode & 0777) != 0700) {
    dir_fd_.reset();  // not ours: nothing is removed from it either
    return Status(ErrorKind::kTarget,
                  "the lane directory " + parent + "/" + name_ + " was replaced as it was made; not using lanes");
  }
  return Status::ok();
}

LaneListener::~LaneListener() { remove(); }

// Relative to the fds: a name planted since (by the sudo caller who owns the
// directory now, or by whoever can write the parent) is never followed.
void LaneListener::remove() {
  listener_.reset();
  if (dir_fd_.valid()) ::unlinkat(dir_fd_.get(), "s", 0);
  if (!name_.empty() && parent_fd_.valid() && dir_fd_.valid()) {
    struct stat ours {
    }, there{};
    if (::fstat(dir_fd_.get(), &ours) == 0 &&
        ::fstatat(parent_fd_.get(), name_.c_str(), &there, AT_SYMLINK_NOFOLLOW) == 0 && ours.st_dev == there.st_dev &&
        ours.st_ino == there.st_ino) {
      ::unlinkat(parent_fd_.get(), name_.c_str(), AT_REMOVEDIR);
    }
  }
  name_.clear();
  dir_fd_.reset();
  parent_fd_.reset();
}

Result<std::vector<UniqueFd>> LaneListener::accept_lanes(uint16_t count, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                         std::chrono::duration<double>(seconds));
  std::vector<UniqueFd> lanes(count);
  uint16_t joined = 0;
  while (joined < count) {
    if (!wait_readable(listener_.get(), deadline)) break;
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    proto::LanePreamble p;
    if (!read_preamble(conn.get(), deadline, &p) || p.token != offer_.token || p.count != count ||
        lanes[p.index].valid()) {
      log::verbose("dropped a lane connection that did not present this session's token");
      continue;
    }
    (void)::setsockopt(conn.get(), SOL_SOCKET, SO_RCVBUF, &kLaneReceiveBuffer, sizeof(kLaneReceiveBuffer));
    lanes[p.index] = std::move(conn);
    ++joined;
  }
  remove();
  if (joined < count) {
    return Status(ErrorKind::kConnection, std::to_string(joined) + " of " + std::to_string(count) +
                                              " lanes connected within " + std::to_string(static_cast<int>(seconds)) +
                                              " s; run with --lanes 1 to use one channel");
  }
  return lanes;
}

}  // namespace sparsync
