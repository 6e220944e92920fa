#include "common/in_use.h"

#include <dirent.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace sparsync {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string dev_text(dev_t dev) { return std::to_string(major(dev)) + ":" + std::to_string(minor(dev)); }

std::string sys_dir(dev_t dev) { return "/sys/dev/block/" + dev_text(dev); }

bool octal(char c) { return c >= '0' && c <= '7'; }

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      char c = static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      out += c;
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct BlockDev {
  dev_t dev;
  std::string name;  // kernel name of a partition, e.g. sdb1
  bool partition;
};

// The device and its partitions (subdirectories of its sysfs directory that
// have a "partition" file).
std::vector<BlockDev> with_partitions(dev_t dev) {
  std::string dir = sys_dir(dev);
  std::vector<BlockDev> out{{dev, "", false}};
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string sub = dir + "/" + e->d_name;
    if (e->d_name[0] == '.' || first_line(sub + "/partition").empty()) continue;
    unsigned maj = 0, min = 0;
    if (std::sscanf(first_line(sub + "/dev").c_str(), "%u:%u", &maj, &min) == 2) {
      out.push_back({makedev(maj, min), e->d_name, true});
    }
  }
  ::closedir(d);
  return out;
}

// Names of the devices holding `dev` (device mapper shows its table name).
std::string holders_of(dev_t dev) {
  std::string dir = sys_dir(dev) + "/holders";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return {};
  std::string out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string name = e->d_name;
    std::string dm = first_line(dir + "/" + name + "/dm/name");
    if (!out.empty()) out += ", ";
    out += dm.empty() ? name : name + " (" + dm + ")";
  }
  ::closedir(d);
  return out;
}

bool used_as_swap(dev_t dev) {
  std::istringstream swaps(read_text("/proc/swaps"));
  std::string line;
  std::getline(swaps, line);  // header
  while (std::getline(swaps, line)) {
    std::string file = unescape(line.substr(0, line.find_first_of(" \t")));
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev) return true;
  }
  return false;
}

// The backing file of a loop device, "" when `dev` is not a bound loop device.
std::string loop_backing_file(dev_t dev) {
  std::string f = first_line(sys_dir(dev) + "/loop/backing_file");
  const std::string deleted = " (deleted)";
  if (f.size() > deleted.size() && f.compare(f.size() - deleted.size(), deleted.size(), deleted) == 0) {
    return {};  // the file is gone: it cannot be either path
  }
  return f;
}

bool same_inode(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// True when block device `dev` is a loop device over the file `file`.
bool loop_over(dev_t dev, const struct stat& file) {
  std::string backing = loop_backing_file(dev);
  struct stat st {};
  return !backing.empty() && ::stat(backing.c_str(), &st) == 0 && same_inode(st, file);
}

}  // namespace

std::string mount_point_in(const std::string& mountinfo_text, dev_t dev) {
  const std::string want = dev_text(dev);
  std::istringstream lines(mountinfo_text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, parent, majmin, root, mount_point;
    if (!(fields >> id >> parent >> majmin >> root >> mount_point)) continue;
    if (majmin == want) return unescape(mount_point);
  }
  return {};
}

std::string rw_mount_point_in(const std::string& mountinfo_text, dev_t dev) {
  const std::string want = dev_text(dev);
  std::istringstream lines(mountinfo_text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, parent, majmin, root, mount_point, options;
    if (!(fields >> id >> parent >> majmin >> root >> mount_point >> options)) continue;
    if (majmin == want && (options == "rw" || options.rfind("rw,", 0) == 0)) return unescape(mount_point);
  }
  return {};
}

namespace {

// Another process that holds block device `dev` open for writing, from
// /proc/PID/fd and /proc/PID/fdinfo: "pid N (comm)", or "". Only what this
// user may see of other processes is seen (all of it as root).
std::string writer_of(dev_t dev) {
  DIR* procs = ::opendir("/proc");
  if (procs == nullptr) return {};
  std::string found;
  const std::string self = std::to_string(::getpid());
  while (found.empty()) {
    dirent* p = ::readdir(procs);
    if (p == nullptr) break;
    if (p->d_name[0] < '1' || p->d_name[0] > '9' || self == p->d_name) continue;
    const std::string base = std::string("/proc/") + p->d_name;
    DIR* fds = ::opendir((base + "/fd").c_str());
    if (fds == nullptr) continue;
    while (dirent* f = ::readdir(fds)) {
      struct stat st {};
      if (f->d_name[0] == '.' || ::stat((base + "/fd/" + f->d_name).c_str(), &st) != 0 || !S_ISBLK(st.st_mode) ||
          st.st_rdev != dev) {
        continue;
      }
      std::istringstream info(read_text(base + "/fdinfo/" + f->d_name));
      for (std::string key; info >> key;) {
        unsigned long flags = 0;
        if (key == "flags:" && info >> std::oct >> flags && (flags & 3) != 0) {  // O_WRONLY or O_RDWR
          std::string comm = first_line(base + "/comm");
          for (char& c : comm) {
            if (c < 0x20 || c > 0x7e) c = '?';
          }
          found = "pid " + std::string(p->d_name) + " (" + comm + ")";
          break;
        }
      }
      if (!found.empty()) break;
    }
    ::closedir(fds);
  }
  ::closedir(procs);
  return found;
}

}  // namespace

std::string live_use(dev_t rdev) {
  const std::string mountinfo = read_text("/proc/self/mountinfo");
  for (const BlockDev& d : with_partitions(rdev)) {
    std::string at = rw_mount_point_in(mountinfo, d.dev);
    if (!at.empty())
      return (d.partition ? "its partition " + d.name + " is " : "it is ") + "mounted read-write at " + at;
  }
  for (const BlockDev& d : with_partitions(rdev)) {
    std::string who = writer_of(d.dev);
    if (!who.empty())
      return (d.partition ? "its partition " + d.name + " is " : "it is ") + "open for writing by " + who;
  }
  return {};
}

Status check_device_not_in_use(const std::string& path, dev_t rdev, bool check_mounts) {
  const std::string what = "block device " + path;
  const std::string mountinfo = check_mounts ? read_text("/proc/self/mountinfo") : "";
  for (const BlockDev& d : with_partitions(rdev)) {
    const std::string who = d.partition ? what + " (its partition " + d.name + ")" : what;
    std::string at = check_mounts ? mount_point_in(mountinfo, d.dev) : "";
    if (!at.empty()) {
      return Status(ErrorKind::kTarget, who + " is mounted at " + at +
                                            "; unmount it first (--force skips this check, but a device "
                                            "the kernel holds is still refused)");
    }
    std::string holders = holders_of(d.dev);
    if (!holders.empty()) {
      return Status(ErrorKind::kTarget, who + " is held by " + holders +
                                            "; deactivate it first (e.g. vgchange -an, dmsetup remove, "
                                            "mdadm --stop)");
    }
    if (used_as_swap(d.dev)) {
      return Status(ErrorKind::kTarget, who + " is in use as swap; swapoff it first");
    }
  }
  return Status::ok();
}

Status check_not_same(const struct stat& src, const std::string& source_name, const std::string& target_path) {
  struct stat dst {};
  if (::stat(target_path.c_str(), &dst) != 0) return Status::ok();
  auto refuse = [&](const std::string& why) {
    return Status(ErrorKind::kUsage,
                  "refusing to sync " + source_name + " onto " + target_path + ": " + why + "; give another target");
  };
  bool src_blk = S_ISBLK(src.st_mode), dst_blk = S_ISBLK(dst.st_mode);
  if (S_ISREG(src.st_mode) && S_ISREG(dst.st_mode) && same_inode(src, dst)) return refuse("they are the same file");
  if (src_blk && dst_blk && src.st_rdev == dst.st_rdev) return refuse("they are the same block device");
  if (dst_blk && S_ISREG(src.st_mode) && loop_over(dst.st_rdev, src)) {
    return refuse(target_path + " is a loop device over the source file");
  }
  if (src_blk && S_ISREG(dst.st_mode) && loop_over(src.st_rdev, dst)) {
    return refuse(source_name + " is a loop device over the target file");
  }
  return Status::ok();
}

}  // namespace sparsync
