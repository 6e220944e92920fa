// --changes digest: the source keeps the block digests of the last
// completed run (source/stored_digests.h) and stands them in for the
// target's, which reads nothing (docs/change-tracking.md "Stored digests").
//
// While SSH logs in, a pre-scan reads the whole source and compares it with
// the stored digests (scan_early), writing the next digest file as it goes
// and keeping the short list of blocks that differ; the session then reads
// only those again. A block the session reads must be what the pre-scan
// saw (a fingerprint of their digests), or the new file would describe
// something the target never got: then it is not kept.
#include <cstdio>
#include <cstring>
#include <optional>

#include "app/change_mode.h"
#include "app/push_source.h"
#include "common/block_hash.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "source/source_reader.h"
#include "source/stored_digests.h"

namespace sparsync {
namespace {

// What the pre-scan found.
struct PreScan {
  SessionParams params;
  ChangeList changed;
  uint64_t fingerprint = 0;
  uint64_t bytes_read = 0;
};

class DigestMode : public ChangeModeImpl {
 public:
  explicit DigestMode(const std::string& stem)
      : stored_path_(stem + ".digests"), next_path_(stem + ".digests.new"), scan_path_(stem + ".digests.scan") {}

  Result<std::unique_ptr<Device>> open_source(const SyncRequest& request) override { return open_push_source(request); }

  bool scans_early() const override { return true; }
  uint64_t early_bytes_read() const override { return used_scan_ ? scan_->bytes_read : 0; }

  void scan_early(const ChangeState& state, Device& source, const SessionParams& params,
                  const proto::ChangeToken& run_token) override {
    auto stored = StoredDigests::open(stored_path_, params);
    if (!stored.is_ok() || !stored.value() || stored.value()->header().run_token != state.token) return;
    auto recorder = DigestRecorder::create(scan_path_, params, run_token);
    if (!recorder.is_ok()) return;
    PreScan scan;
    scan.params = params;
    DigestFingerprint fingerprint;
    SourceReader reader(source, params, 0);
    reader.start();
    const size_t len = proto::hash_length(params.hash_kind);
    uint8_t now[kMaxDigest], before[kMaxDigest];
    while (auto chunk = reader.next()) {
      if (interrupted()) return;
      for (uint64_t done = 0; done < chunk->length;) {
        const uint64_t block = (chunk->offset + done) / params.block_size;
        stored_block_digest(params, block, chunk->hole ? nullptr : chunk->data.data() + done, now);
        if (!stored.value()->next(before).is_ok() || !recorder.value()->add_digest(now).is_ok()) return;
        if (std::memcmp(now, before, len) != 0) {
          scan.changed.add(params.block_offset(block), params.block_length(block));
          fingerprint.add_digest(now, len);
        }
        done += params.block_length(block);
      }
      if (!chunk->hole) reader.recycle(std::move(chunk->data));
    }
    if (!reader.status().is_ok() || !stored.value()->finish().is_ok() || !recorder.value()->finish().is_ok() ||
        !recorder.value()->complete()) {
      return;
    }
    // Coarsened past its bound, the list holds blocks the fingerprint does
    // not: the session reads them too, so it cannot be compared.
    if (scan.changed.merged_gap() > 0) return;
    scan.fingerprint = fingerprint.value();
    scan.bytes_read = reader.bytes_read();
    scan_ = std::move(scan);
  }

  bool find_changes(const ChangeState* state, const Device&, const SessionParams& params,
                    const proto::ChangeToken& run_token, ChangeList*, std::string* why) override {
    stored_.reset();
    auto recorder = DigestRecorder::create(next_path_, params, run_token);
    recorder_ = recorder.is_ok() ? recorder.take() : nullptr;
    if (!recorder_) *why = recorder.status().message();
    if (scan_ && !(scan_->params == params)) scan_.reset();
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
    if (used && scan_) {
      // Only what the pre-scan found changed is read again.
      options->read_only = &scan_->changed.ranges();
      // Each attempt of the sync reads the listed blocks anew.
      read_again_ = std::make_unique<DigestFingerprint>();
      options->fingerprint = read_again_.get();
      options->record_digests = nullptr;
      used_scan_ = true;
      log::verbose("--changes digest: compared while the session started: " + std::to_string(scan_->changed.size()) +
                   " ranges differ");
    } else {
      options->record_digests = recorder_.get();
      used_scan_ = false;
    }
  }

  Status commit(bool, ChangeState* next, bool* usable) override {
    stored_.reset();
    if (used_scan_) {
      recorder_.reset();
      (void)std::remove(next_path_.c_str());
      *usable = read_again_ && read_again_->value() == scan_->fingerprint;
      if (!*usable) {
        (void)std::remove(scan_path_.c_str());
        next->unusable = "the source changed between the comparison and the copy of what differed";
        return Status::ok();
      }
      return keep(scan_path_);
    }
    (void)std::remove(scan_path_.c_str());
    *usable = recorder_ && recorder_->complete();
    recorder_.reset();
    if (!*usable) {
      (void)std::remove(next_path_.c_str());
      next->unusable =
          "the last run resumed an interrupted one, so it read (and stored digests of) only part of "
          "the image";
      return Status::ok();
    }
    return keep(next_path_);
  }

  void abandon() override {
    stored_.reset();
    recorder_.reset();
    (void)std::remove(next_path_.c_str());
    (void)std::remove(scan_path_.c_str());
  }

 private:
  Status keep(const std::string& path) {
    if (std::rename(path.c_str(), stored_path_.c_str()) != 0) {
      return errno_status(ErrorKind::kSource, "cannot keep the digests " + stored_path_, errno);
    }
    return Status::ok();
  }

  std::string stored_path_;
  std::string next_path_;
  std::string scan_path_;
  std::unique_ptr<StoredDigests> stored_;
  std::unique_ptr<DigestRecorder> recorder_;
  std::optional<PreScan> scan_;
  std::unique_ptr<DigestFingerprint> read_again_;
  bool used_scan_ = false;
};

}  // namespace

std::unique_ptr<ChangeModeImpl> make_digest_mode(const std::string& stem) { return std::make_unique<DigestMode>(stem); }

}  // namespace sparsync
