// --changes digest: the source keeps the block digests of the last
// completed run (source/stored_digests.h) and stands them in for the
// target's, which reads nothing (docs/change-tracking.md "Stored digests").
#include <cstdio>

#include "app/change_mode.h"
#include "app/push_source.h"
#include "source/stored_digests.h"

namespace sparsync {
namespace {

class DigestMode : public ChangeModeImpl {
 public:
  explicit DigestMode(std::string stem) : stored_path_(stem + ".digests"), next_path_(stem + ".digests.new") {}

  Result<std::unique_ptr<Device>> open_source(const SyncRequest& request) override { return open_push_source(request); }

  bool find_changes(const ChangeState* state, const Device&, const SessionParams& params,
                    const proto::ChangeToken& run_token, ChangeList*, std::string* why) override {
    stored_.reset();
    auto recorder = DigestRecorder::create(next_path_, params, run_token);
    recorder_ = recorder.is_ok() ? recorder.take() : nullptr;
    if (!recorder_) *why = recorder.status().message();
    if (state == nullptr) return false;
    auto stored = StoredDigests::open(stored_path_, params);
    if (!stored.is_ok()) {
      *why = stored.status().message();
      return false;
    }
    if (!stored.value() || stored.value()->header().run_token != state->token) {
      *why = "the stored digests of the last run are missing";
      return false;
    }
    stored_ = stored.take();
    // Nothing for the target to hash: the stored digests stand in for it.
    return true;
  }

  void options(bool used, const ChangeList&, SourceSessionOptions* options) override {
    options->stored = used ? stored_.get() : nullptr;
    options->record_digests = recorder_.get();
  }

  Status commit(bool, ChangeState* next, bool* usable) override {
    stored_.reset();
    *usable = recorder_ && recorder_->complete();
    recorder_.reset();
    if (!*usable) {
      (void)std::remove(next_path_.c_str());
      next->unusable =
          "the last run resumed an interrupted one, so it read (and stored digests of) only part of "
          "the image";
      return Status::ok();
    }
    if (std::rename(next_path_.c_str(), stored_path_.c_str()) != 0) {
      return errno_status(ErrorKind::kSource, "cannot keep the digests " + stored_path_, errno);
    }
    return Status::ok();
  }

  void abandon() override {
    stored_.reset();
    recorder_.reset();
    (void)std::remove(next_path_.c_str());
  }

 private:
  std::string stored_path_;
  std::string next_path_;
  std::unique_ptr<StoredDigests> stored_;
  std::unique_ptr<DigestRecorder> recorder_;
};

}  // namespace

std::unique_ptr<ChangeModeImpl> make_digest_mode(const std::string& stem) { return std::make_unique<DigestMode>(stem); }

}  // namespace sparsync
