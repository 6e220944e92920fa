#include "support/loop_device.h"

#include <unistd.h>

#include "support/command.h"

namespace sparsync::testing {

std::unique_ptr<LoopDevice> LoopDevice::attach(const std::string& file, std::string* why_not) {
  if (::geteuid() != 0) {
    *why_not = "loop devices need root";
    return nullptr;
  }
  CommandResult r;
  for (const char* losetup : {"/usr/sbin/losetup", "/sbin/losetup"}) {
    if (::access(losetup, X_OK) != 0) continue;
    r = run_command({losetup, "--find", "--show", file});
    break;
  }
  std::string dev = r.out;
  while (!dev.empty() && (dev.back() == '\n' || dev.back() == ' ')) dev.pop_back();
  if (r.exit_code != 0 || dev.rfind("/dev/", 0) != 0) {
    *why_not = "losetup --find --show failed (exit " + std::to_string(r.exit_code) + "): " + r.err;
    return nullptr;
  }
  return std::unique_ptr<LoopDevice>(new LoopDevice(dev));
}

LoopDevice::~LoopDevice() {
  for (const char* losetup : {"/usr/sbin/losetup", "/sbin/losetup"}) {
    if (::access(losetup, X_OK) != 0) continue;
    (void)run_command({losetup, "--detach", path_});
    return;
  }
}

}  // namespace sparsync::testing
