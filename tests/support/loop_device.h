// LoopDevice: attaches a file with `losetup --find --show` and detaches it in
// the destructor. attach() returns nullptr with a reason when losetup is not
// usable here (not root, no loop driver), so tests can skip.
#pragma once

#include <memory>
#include <string>

namespace sparsync::testing {

class LoopDevice {
 public:
  static std::unique_ptr<LoopDevice> attach(const std::string& file, std::string* why_not);
  ~LoopDevice();
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;
  const std::string& path() const { return path_; }

 private:
  explicit LoopDevice(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace sparsync::testing
