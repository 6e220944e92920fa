#include "support/scratch_filesystem.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "support/command.h"

namespace sparsync::testing {
namespace {

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    std::string p = dir + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

}  // namespace

std::unique_ptr<ScratchFilesystem> ScratchFilesystem::make(const std::string& type, uint64_t size, std::string* why_not,
                                                           const std::vector<std::string>& mkfs_options) {
  if (::geteuid() != 0) {
    *why_not = "mounting a " + type + " needs root";
    return nullptr;
  }
  std::unique_ptr<ScratchFilesystem> fs(new ScratchFilesystem());
  fs->mount_point_ = fs->dir_.file("mnt");
  if (::mkdir(fs->mount_point_.c_str(), 0755) != 0) {
    *why_not = "cannot create " + fs->mount_point_ + ": " + std::strerror(errno);
    return nullptr;
  }
  std::string device = "sparsync-test";
  std::string options = "size=" + std::to_string(size);
  if (type != "tmpfs") {
    const std::string mkfs = find_program("mkfs." + type);
    if (mkfs.empty()) {
      *why_not = "mkfs." + type + " is not installed";
      return nullptr;
    }
    const std::string image = fs->dir_.file(type + ".img");
    UniqueFd fd(::open(image.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid() || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      *why_not = "cannot create " + image + ": " + std::strerror(errno);
      return nullptr;
    }
    fd.reset();
    std::vector<std::string> argv{mkfs, "-q"};
    if (type.rfind("ext", 0) == 0) argv.push_back("-F");  // mkfs.ext4 asks before using a plain file
    argv.insert(argv.end(), mkfs_options.begin(), mkfs_options.end());
    argv.push_back(image);
    CommandResult r = run_command(argv);
    if (r.exit_code != 0) {
      *why_not = "mkfs." + type + " failed (exit " + std::to_string(r.exit_code) + "): " + r.err;
      return nullptr;
    }
    fs->loop_ = LoopDevice::attach(image, why_not);
    if (fs->loop_ == nullptr) return nullptr;
    device = fs->loop_->path();
    options.clear();
  }
  if (::mount(device.c_str(), fs->mount_point_.c_str(), type.c_str(), 0, options.c_str()) != 0) {
    *why_not = "mount -t " + type + " " + device + " failed: " + std::strerror(errno);
    return nullptr;
  }
  fs->mounted_ = true;
  return fs;
}

ScratchFilesystem::~ScratchFilesystem() {
  // Unmounted before the image's directory is removed, so the removal never
  // walks into the mounted filesystem; lazily where a file is still open.
  if (mounted_ && ::umount2(mount_point_.c_str(), 0) != 0) (void)::umount2(mount_point_.c_str(), MNT_DETACH);
  loop_.reset();
}

}  // namespace sparsync::testing
