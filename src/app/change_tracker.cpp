#include "app/change_tracker.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "app/change_mode.h"
#include "common/log.h"
#include "source/nbd_source.h"
#include "target/synced_state.h"
#include "target/target_open.h"

namespace sparsync {
namespace {

// The source as this host names it, for the state's file name.
std::string source_key(const SyncRequest& request) {
  return is_nbd_uri(request.source) ? request.source : resolved_path(request.source);
}

}  // namespace

std::string ChangesMode::text() const {
  switch (kind) {
    case Kind::kNone:
      return "none";
    case Kind::kDigest:
      return "digest";
    case Kind::kBitmap:
      return "bitmap:" + bitmap;
    case Kind::kReflink:
      return "reflink";
  }
  return "none";
}

// --changes and --full-every, once the sides are known: the tracker lives
// beside the source, which must be read here, from a file, device or export.
Status changes_mode_from(const CliOptions& options, const SyncRequest& request, ChangesMode* mode) {
  if (options.changes.empty()) {
    if (options.full_every == 0) return Status::ok();
    return Status(ErrorKind::kUsage, "--full-every goes with --changes");
  }
  auto parsed = parse_changes_mode(options.changes);
  if (!parsed.is_ok()) return parsed.status();
  *mode = parsed.value();
  mode->full_every = options.full_every;
  if (request.pull) {
    return Status(ErrorKind::kUsage,
                  "--changes tracks a source on this host; for a source on another host, run "
                  "sparsync there (push)");
  }
  if (request.source_stdin) return Status(ErrorKind::kUsage, "--changes needs a source it can read again, not stdin");
  return Status::ok();
}

// Where the target is, as the tracker's state names it.
std::string change_target_key(const SyncRequest& request, const RemoteSide& remote) {
  if (!remote.remote) return "local:" + resolved_path(request.target);
  return remote.ssh.user + "@" + remote.ssh.host + ":" + std::to_string(remote.ssh.port) + ":" + request.target;
}

Result<ChangesMode> parse_changes_mode(const std::string& text) {
  ChangesMode m;
  if (text == "digest") {
    m.kind = ChangesMode::Kind::kDigest;
  } else if (text == "reflink") {
    m.kind = ChangesMode::Kind::kReflink;
  } else if (text.rfind("bitmap:", 0) == 0 && text.size() > 7 && text.size() <= 1030) {
    m.kind = ChangesMode::Kind::kBitmap;
    m.bitmap = text.substr(7);
  } else {
    return Status(ErrorKind::kUsage,
                  "--changes " + text + ": give digest, reflink or bitmap:NAME (docs/change-tracking.md)");
  }
  return m;
}

// The identity of a file or device without what moves on every write (the
// size, mtime and ctime of a file; a qcow2 file grows as its guest writes):
// the same image from run to run. The image's own size is checked apart.
std::string ChangeModeImpl::stable_identity(const Device& source) const {
  std::string id = source.identity();
  const bool file = id.rfind("file:", 0) == 0 || id.rfind("qcow2:file:", 0) == 0;
  if (!file) return id;
  for (int cut = 0; cut < 3; ++cut) {
    auto colon = id.rfind(':');
    if (colon == std::string::npos) return {};
    id.resize(colon);
  }
  return id;
}

ChangeTracker::~ChangeTracker() {
  if (early_.joinable()) early_.join();
}

Result<std::unique_ptr<ChangeTracker>> ChangeTracker::create(const ChangesMode& mode, const SyncRequest& request,
                                                             const std::string& target_key) {
  std::unique_ptr<ChangeTracker> t(new ChangeTracker());
  t->mode_ = mode;
  t->target_key_ = target_key;
  auto stem = change_state_stem(source_key(request), target_key);
  if (!stem.is_ok()) return stem.status();
  t->stem_ = stem.take();
  // One run per source and target at a time: two would write the same
  // tracker files (the second would be refused by the target's lock, but
  // only after its pre-scan).
  const std::string lock_path = t->stem_ + ".lock";
  t->lock_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!t->lock_.valid()) return errno_status(ErrorKind::kSource, "cannot open " + lock_path, errno);
  if (::flock(t->lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    return Status(ErrorKind::kSource, "another sparsync run tracks the changes of " + request.source + " to " +
                                          target_key + " now (" + lock_path + " is locked); wait for it to end");
  }
  switch (mode.kind) {
    case ChangesMode::Kind::kDigest:
      t->impl_ = make_digest_mode(t->stem_);
      break;
    case ChangesMode::Kind::kBitmap:
      t->impl_ = make_bitmap_mode(mode.bitmap, t->stem_);
      break;
    case ChangesMode::Kind::kReflink:
      t->impl_ = make_reflink_mode(t->stem_);
      break;
    case ChangesMode::Kind::kNone:
      return Status(ErrorKind::kInternal, "a change tracker without a mode");
  }
  t->state_ = load_change_state(t->stem_, &t->no_state_reason_);
  // One token for the command: its retries are the same run to the target.
  t->run_token_ = new_change_token();
  return t;
}

void ChangeTracker::start_early(const SyncRequest& request) {
  if (!impl_->scans_early()) return;
  early_ = std::thread([this, request] {
    // Reflink: the copy is taken here (a fragmented image's FICLONE took
    // 1.1 s for 1 GiB here), while SSH logs in.
    auto source = impl_->open_source(request);
    if (!source.is_ok() || !state_) return;  // the session's own open says why
    SessionParams params;
    params.image_size = source.value()->size();
    params.block_size = request.block_size;
    params.hash_kind = request.hash_kind;
    params.dry_run = request.dry_run;
    params.verify = request.verify;
    std::string why;
    const ChangeState* usable = usable_state(impl_->stable_identity(*source.value()), params, &why);
    if (usable != nullptr) impl_->scan_early(*usable, *source.value(), params, run_token_);
  });
}

const ChangeState* ChangeTracker::usable_state(const std::string& identity, const SessionParams& params,
                                               std::string* why) const {
  if (!state_) {
    *why = no_state_reason_;
  } else if (!state_->unusable.empty()) {
    *why = state_->unusable;
  } else if (state_->mode != mode_.text()) {
    *why = "the last run tracked changes another way (" + state_->mode + ")";
  } else if (identity.empty() || state_->source != identity) {
    *why = "the source is not the file or device the last run read";
  } else if (state_->image_size != params.image_size || state_->block_size != params.block_size ||
             state_->hash_kind != static_cast<uint8_t>(params.hash_kind)) {
    *why = "the image size, block size or hash differ from the last run's";
  } else if (mode_.full_every > 0 && state_->runs_since_full + 1 >= mode_.full_every) {
    *why = "a full comparison every " + std::to_string(mode_.full_every) + " runs (--full-every)";
  } else {
    return &*state_;
  }
  return nullptr;
}

Result<std::unique_ptr<Device>> ChangeTracker::open_source(const SyncRequest& request) {
  if (early_.joinable()) early_.join();
  return impl_->open_source(request);
}

void ChangeTracker::fall_back(const std::string& why) {
  base_token_ = proto::ChangeToken{};
  list_ = ChangeList();
  if (fallback_reason_.empty()) fallback_reason_ = why;
}

Status ChangeTracker::plan(const Device& source, const SessionParams& params, bool dry_run) {
  if (early_.joinable()) early_.join();
  base_token_ = proto::ChangeToken{};
  list_ = ChangeList();
  fallback_reason_.clear();
  used_ = false;
  planned_ = true;
  params_ = params;
  dry_run_ = dry_run;
  source_identity_ = impl_->stable_identity(source);
  std::string why;
  const ChangeState* usable = usable_state(source_identity_, params, &why);
  std::string mode_why;
  const bool found = impl_->find_changes(usable, source, params, run_token_, &list_, &mode_why);
  if (usable != nullptr && found) {
    base_token_ = state_->token;
    list_.align(params.block_size, params.image_size);
    return Status::ok();
  }
  fall_back(usable != nullptr ? mode_why : why);
  return Status::ok();
}

void ChangeTracker::answered(std::optional<proto::ChangesAnswer> answer, SourceSessionOptions* options) {
  sent_ = answer.has_value();
  if (!answer) {
    // Whatever else held, this is why no list can be used with that host.
    fallback_reason_.clear();
    fall_back("the far side's sparsync takes no change list (an older version)");
  } else if (*answer != proto::ChangesAnswer::kAccepted) {
    if (!proto::is_zero(base_token_)) fall_back(changes_answer_text(*answer));
  } else {
    used_ = !proto::is_zero(base_token_);
  }
  if (!used_) list_ = ChangeList();
  impl_->options(used_, list_, options);
  if (!used_) {
    log::info("--changes " + mode_.text() + ": comparing in full: " + fallback_reason_);
  } else {
    log::verbose("--changes " + mode_.text() + ": " + std::to_string(list_.bytes()) + " bytes in " +
                 std::to_string(list_.size()) + " ranges may have changed");
  }
}

Status ChangeTracker::commit() {
  if (!planned_ || !sent_ || dry_run_) {
    abandon();
    return Status::ok();
  }
  ChangeState next;
  next.mode = mode_.text();
  next.source = source_identity_;
  next.target = target_key_;
  next.token = run_token_;
  next.image_size = params_.image_size;
  next.block_size = params_.block_size;
  next.hash_kind = static_cast<uint8_t>(params_.hash_kind);
  next.runs_since_full = used_ && state_ ? state_->runs_since_full + 1 : 0;
  bool usable = false;
  Status s = impl_->commit(used_, &next, &usable);
  if (!s.is_ok() || source_identity_.empty()) {
    remove_change_state(stem_);
    return s;
  }
  if (!usable && next.unusable.empty()) next.unusable = "the last run left nothing to start from";
  SPARSYNC_RETURN_IF_ERROR(save_change_state(stem_, next));
  state_ = next;
  return Status::ok();
}

void ChangeTracker::abandon() { impl_->abandon(); }

uint64_t ChangeTracker::early_bytes_read() const { return impl_->early_bytes_read(); }

std::string ChangeTracker::change_source() const { return used_ ? mode_.text() : "full"; }

}  // namespace sparsync
