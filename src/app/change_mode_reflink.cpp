// --changes reflink: each run reads a reflink copy of the source image taken
// at its start (a point-in-time image even while a VM writes the original),
// and what changed is where the copy's extents stopped being those of the
// last completed run's copy (source/reflink_reference.h, reflink_changes.h).
#include <sys/stat.h>

#include <optional>

#include "app/change_mode.h"
#include "source/reflink_changes.h"
#include "source/reflink_reference.h"

namespace sparsync {
namespace {

std::string identity_text(const ReferenceIdentity& id) {
  return std::to_string(id.dev) + ":" + std::to_string(id.ino) + ":" + std::to_string(id.ctime_ns) + ":" +
         std::to_string(id.size);
}

class ReflinkMode : public ChangeModeImpl {
 public:
  explicit ReflinkMode(std::string tag) : tag_(std::move(tag)) {}

  Result<std::unique_ptr<Device>> open_source(const SyncRequest& request) override {
    if (!place_) {
      auto place = reference_place(request.source, tag_);
      if (!place.is_ok()) return place.status();
      place_ = place.take();
    }
    // A retry of the same sync reads the same copy: what it resumes from
    // was compared against that point in time.
    if (!fresh_) {
      auto original = FileDevice::open(request.source, false, ErrorKind::kSource, request.retry);
      if (!original.is_ok()) return original.status();
      original_identity_ = ChangeModeImpl::stable_identity(*original.value());
      auto taken = take_reference(*place_, original.value()->fd());
      if (!taken.is_ok()) return taken.status();
      fresh_ = taken.take();
    }
    auto where = reference_path(*place_, place_->fresh);
    if (!where.is_ok()) return where.status();
    auto opened = FileDevice::open(where.value(), false, ErrorKind::kSource, request.retry);
    if (!opened.is_ok()) return opened.status();
    struct stat st {};
    if (::fstat(opened.value()->fd(), &st) != 0 || st.st_ino != fresh_->identity.ino ||
        st.st_dev != fresh_->identity.dev) {
      return Status(ErrorKind::kSource, place_->shown(place_->fresh) + " changed under this run; run it again");
    }
    std::unique_ptr<FileDevice> source = opened.take();
    if (!request.keep_cache) enable_cold_reads(*source);
    return std::unique_ptr<Device>(std::move(source));
  }

  // The copy is taken before the session, while SSH logs in.
  bool scans_early() const override { return true; }

  // The original image's, not this run's copy's (a new file every run).
  std::string stable_identity(const Device&) const override { return original_identity_; }

  bool find_changes(const ChangeState* state, const Device& source, const SessionParams&, const proto::ChangeToken&,
                    ChangeList* list, std::string* why) override {
    if (state == nullptr || !fresh_) return false;
    KeptReference kept = open_kept_reference(*place_, *fresh_);
    if (!kept.refused.empty()) {
      *why = kept.refused;
      return false;
    }
    if (identity_text(kept.identity) != state->reference) {
      *why = "the kept reference " + place_->shown(place_->kept) + " is not the last run's";
      return false;
    }
    Status compared = changed_extents(kept.fd.get(), fresh_->fd.get(), source.size(), list);
    if (!compared.is_ok()) {
      *why = compared.message();
      return false;
    }
    return true;
  }

  void options(bool used, const ChangeList& list, SourceSessionOptions* options) override {
    options->read_only = used ? &list.ranges() : nullptr;
  }

  Status commit(bool, ChangeState* next, bool* usable) override {
    *usable = false;
    if (!fresh_) return Status::ok();
    auto kept = keep_reference(*place_, *fresh_);
    fresh_.reset();
    if (!kept.is_ok()) return kept.status();
    next->reference = identity_text(kept.value());
    *usable = true;
    return Status::ok();
  }

  void abandon() override {
    if (fresh_) (void)discard_reference(*place_, *fresh_);
    fresh_.reset();
  }

 private:
  std::string tag_;
  std::optional<ReferencePlace> place_;
  std::optional<NewReference> fresh_;
  std::string original_identity_;
};

}  // namespace

std::unique_ptr<ChangeModeImpl> make_reflink_mode(const std::string& stem) {
  // One kept reference per target: tagged with the state's name for the pair.
  const auto dash = stem.rfind('-');
  return std::make_unique<ReflinkMode>(stem.substr(dash + 1, 16));
}

}  // namespace sparsync
