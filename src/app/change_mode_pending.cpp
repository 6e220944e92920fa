// Placeholder until the bitmap mode lands (being built on its
// own branch): it refuses to run, with a line saying so.
#include "app/change_mode.h"

namespace sparsync {
namespace {

class PendingMode : public ChangeModeImpl {
 public:
  explicit PendingMode(std::string name) : name_(std::move(name)) {}
  Result<std::unique_ptr<Device>> open_source(const SyncRequest&) override {
    return Status(ErrorKind::kUsage, "--changes " + name_ + " is not available in this build; use --changes digest");
  }
  bool find_changes(const ChangeState*, const Device&, const SessionParams&, const proto::ChangeToken&, ChangeList*,
                    std::string*) override {
    return false;
  }
  void options(bool, const ChangeList&, SourceSessionOptions*) override {}
  Status commit(bool, ChangeState*, bool* usable) override {
    *usable = false;
    return Status::ok();
  }

 private:
  std::string name_;
};

}  // namespace

std::unique_ptr<ChangeModeImpl> make_bitmap_mode(const std::string& bitmap) {
  return std::make_unique<PendingMode>("bitmap:" + bitmap);
}
std::unique_ptr<ChangeModeImpl> make_reflink_mode(const std::string&) {
  return std::make_unique<PendingMode>("reflink");
}

}  // namespace sparsync
