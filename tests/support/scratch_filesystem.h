// ScratchFilesystem: a real filesystem of a given type (xfs, btrfs, ext4),
// made with mkfs in a sparse image file and mounted on a loop device
// (support/loop_device.h), or a tmpfs, for tests of what only that filesystem does
// (reflinks, FIEMAP). make() returns nullptr with a reason where that is
// not possible here (not root, no mkfs for the type, no loop driver, a
// container that may not mount), so tests can skip; the destructor
// unmounts (lazily, should something still hold it), detaches and removes
// everything, also after a failed test.
// Thread-safety: none needed; each test owns its filesystem.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/files.h"
#include "support/loop_device.h"

namespace sparsync::testing {

class ScratchFilesystem {
 public:
  // `type` names the mkfs.<type> to run, with `mkfs_options` before the
  // image, and the filesystem to mount; the image is `size` bytes (mkfs.xfs
  // wants at least 300 MB, mkfs.btrfs 114 MiB). "tmpfs" mounts one of `size`.
  static std::unique_ptr<ScratchFilesystem> make(const std::string& type, uint64_t size, std::string* why_not,
                                                 const std::vector<std::string>& mkfs_options = {});
  ~ScratchFilesystem();
  ScratchFilesystem(const ScratchFilesystem&) = delete;
  ScratchFilesystem& operator=(const ScratchFilesystem&) = delete;
  // The mount point.
  const std::string& path() const { return mount_point_; }
  std::string file(const std::string& name) const { return mount_point_ + "/" + name; }

 private:
  ScratchFilesystem() = default;

  TempDir dir_;  // holds the image and the mount point; removed last
  std::unique_ptr<LoopDevice> loop_;
  std::string mount_point_;
  bool mounted_ = false;
};

}  // namespace sparsync::testing
