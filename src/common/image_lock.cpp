#include "common/image_lock.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace sparsync {
namespace {

struct LockHolder {
  long pid = 0;
  bool exclusive = false;  // holds LOCK_EX (a writer), else LOCK_SH
  bool sparsync = false;   // the process is a sparsync
  std::string name;        // its command name, printable
};

// The process name of `pid` (/proc/PID/comm, 15 bytes at most), with
// anything unprintable shown as '?': it is one word of one line.
std::string process_name(long pid) {
  std::string name;
  if (FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/comm").c_str(), "re")) {
    int ch;
    while ((ch = std::fgetc(f)) != EOF && ch != '\n' && name.size() < 16) {
      name += ch >= 0x20 && ch < 0x7f ? static_cast<char>(ch) : '?';
    }
    std::fclose(f);
  }
  return name;
}

// Who holds a flock on the file behind `fd`, from /proc/locks; pid 0 when
// it cannot be told.
LockHolder flock_holder(int fd) {
  LockHolder holder;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return holder;
  char want[64];
  std::snprintf(want, sizeof(want), "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
                static_cast<unsigned long long>(st.st_ino));
  FILE* f = std::fopen("/proc/locks", "re");
  if (f == nullptr) return holder;
  char line[256];
  while (holder.pid == 0 && std::fgets(line, sizeof(line), f) != nullptr) {
    char kind[16], mode[16], access[16], id[64];
    long pid = 0;
    // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF"
    if (std::sscanf(line, "%*s %15s %15s %15s %ld %63s", kind, mode, access, &pid, id) == 5 &&
        std::string(kind) == "FLOCK" && std::string(id) == want && pid > 0) {
      holder.pid = pid;
      holder.exclusive = std::string(access) == "WRITE";
      holder.name = process_name(pid);
      holder.sparsync = holder.name == "sparsync";
    }
  }
  std::fclose(f);
  return holder;
}

// The one line that says who holds `path`, and what to do.
std::string lock_conflict(const std::string& path, bool want_exclusive, const LockHolder& h) {
  const std::string pid = "pid " + std::to_string(h.pid);
  if (h.pid == 0) return path + " is locked by another process; wait for it to finish or stop it";
  if (!h.sparsync) {
    return path + " is locked by another process (" + pid + (h.name.empty() ? "" : ", " + h.name) +
           "); wait for it to finish or stop it";
  }
  if (h.exclusive) {
    return path + " is being written by another sparsync run (" + pid + ")" +
           (want_exclusive ? "" : ", so it cannot be read as a source now") + "; wait for it to finish or stop it";
  }
  return path + " is being read by another sparsync run (" + pid +
         ") as its source, so it cannot be written now; wait for it to finish or stop it";
}

}  // namespace

Status lock_image(int fd, const std::string& path, ErrorKind role, bool exclusive, bool wait) {
  const int limit_tenths = (wait ? kExclusiveWaitSeconds : kForeignHolderSeconds) * 10;
  for (int waited = 0;; ++waited) {
    if (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) return Status::ok();
    if (errno != EWOULDBLOCK) return errno_status(role, "cannot lock " + path, errno);
    if (waited >= limit_tenths) return Status(role, lock_conflict(path, exclusive, flock_holder(fd)));
    // Another run is refused at once unless this is a retry of our own:
    // only a brief holder (udevd probing) is worth the wait.
    if (!wait) {
      const LockHolder holder = flock_holder(fd);
      if (holder.sparsync) return Status(role, lock_conflict(path, exclusive, holder));
    }
    ::usleep(100000);
  }
}

}  // namespace sparsync
