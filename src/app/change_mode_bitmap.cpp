// --changes bitmap:NAME: the dirty bitmap NAME says what the guest wrote
// since the last completed run. For a qcow2 image sparsync opens itself, it
// keeps NAME itself (source/qcow2_bitmap.h: prepared before the run, rotated
// once the target confirmed it); an NBD export it is handed (a running VM's
// pull-mode backup) is kept by whoever made it: libvirt's checkpoints
// (docs/libvirt-incremental.md).
#include "app/change_mode.h"
#include "source/nbd_source.h"
#include "source/qcow2_bitmap.h"

namespace sparsync {
namespace {

class BitmapMode : public ChangeModeImpl {
 public:
  BitmapMode(std::string name, std::string tag) : name_(std::move(name)), tag_(std::move(tag)) {}

  Result<std::unique_ptr<Device>> open_source(const SyncRequest& request) override {
    SPARSYNC_RETURN_IF_ERROR(check_bitmap_name(name_));
    nbd_ = nullptr;
    if (is_nbd_uri(request.source)) {
      handed_ = true;
      auto nbd = NbdSource::connect_uri(request.source, request.timeout, name_);
      if (!nbd.is_ok()) return nbd.status();
      nbd_ = nbd.value().get();
      return std::unique_ptr<Device>(nbd.take());
    }
    const bool qcow2 = request.source_format == SyncRequest::SourceFormat::kQcow2 ||
                       (request.source_format == SyncRequest::SourceFormat::kAuto && looks_like_qcow2(request.source));
    if (!qcow2) {
      return Status(ErrorKind::kUsage,
                    "--changes bitmap:" + name_ +
                        " reads a qcow2 image (--source-format qcow2) "
                        "or an NBD export; for a raw image use --changes reflink or --changes digest");
    }
    // Once per sync, before qemu-nbd holds the image: a retry keeps the
    // helper bitmap the first attempt started.
    if (!prepared_) {
      path_ = request.source;
      SPARSYNC_RETURN_IF_ERROR(claim_bitmap(path_, name_, tag_, request.dry_run));
      SPARSYNC_RETURN_IF_ERROR(request.dry_run ? look_at_bitmap() : prepare());
      prepared_ = true;
    }
    auto image = NbdSource::serve_qcow2(request.source, request.timeout, name_);
    if (!image.is_ok()) return image.status();
    nbd_ = image.value().get();
    return std::unique_ptr<Device>(image.take());
  }

  Status prepare() {
    auto prepared = prepare_bitmap(path_, name_);
    if (!prepared.is_ok()) return prepared.status();
    preparation_ = prepared.value();
    return Status::ok();
  }

  // A dry run changes nothing, the image's bitmaps included: NAME is only
  // looked at.
  Status look_at_bitmap() {
    auto found = inspect_bitmap(path_, name_);
    if (!found.is_ok()) return found.status();
    const std::optional<Qcow2Bitmap>& b = found.value();
    if (!b || b->in_use || !b->enabled) {
      preparation_.state = BitmapState::kCreated;
      preparation_.reason = "the bitmap " + name_ + " is missing, in use or disabled (a dry run does not mend it)";
    }
    return Status::ok();
  }

  // An export has no identity of its own: its URI names it.
  std::string stable_identity(const Device& source) const override {
    std::string id = ChangeModeImpl::stable_identity(source);
    return id.empty() ? "nbd:" + source.path() : id;
  }

  bool find_changes(const ChangeState* state, const Device&, const SessionParams&, const proto::ChangeToken&,
                    ChangeList* list, std::string* why) override {
    if (state == nullptr || nbd_ == nullptr) return false;
    if (prepared_ && preparation_.state != BitmapState::kReady) {
      *why = preparation_.reason.empty() ? "the bitmap " + name_ + " was just created" : preparation_.reason;
      return false;
    }
    Status listed = nbd_->dirty_ranges(list);
    if (!listed.is_ok()) {
      *why = listed.message();
      return false;
    }
    return true;
  }

  void options(bool used, const ChangeList& list, SourceSessionOptions* options) override {
    options->read_only = used ? &list.ranges() : nullptr;
  }

  // The source is closed (qemu-nbd gone): NAME moves on to what the helper
  // recorded since this run began. A handed export's bitmap is its maker's.
  Status commit(bool, ChangeState*, bool* usable) override {
    nbd_ = nullptr;
    *usable = false;
    if (!handed_) SPARSYNC_RETURN_IF_ERROR(retire_bitmap(path_, name_));
    *usable = true;
    return Status::ok();
  }

  void abandon() override { nbd_ = nullptr; }

 private:
  std::string name_;
  std::string tag_;           // this target's, for the bitmap's owner marker
  NbdSource* nbd_ = nullptr;  // the attempt's source, owned by the push
  bool handed_ = false;
  bool prepared_ = false;
  BitmapPreparation preparation_;
  std::string path_;
};

}  // namespace

std::unique_ptr<ChangeModeImpl> make_bitmap_mode(const std::string& bitmap, const std::string& stem) {
  const auto dash = stem.rfind('-');
  return std::make_unique<BitmapMode>(bitmap, stem.substr(dash + 1, 16));
}

}  // namespace sparsync
