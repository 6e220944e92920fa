#include "app/session_settings.h"

#include <algorithm>

#include "common/log.h"

namespace sparsync {
namespace {

uint16_t open_flags(const SyncRequest& r) {
  uint16_t flags = 0;
  if (r.dry_run) flags |= proto::kOpenDryRun;
  if (r.allow_larger_target) flags |= proto::kOpenAllowLargerTarget;
  if (r.restart) flags |= proto::kOpenRestart;
  if (r.verify) flags |= proto::kOpenVerify;
  if (r.force) flags |= proto::kOpenForce;
  if (r.retry) flags |= proto::kOpenRetry;
  if (r.no_undo) flags |= proto::kOpenNoUndo;
  if (r.undo) flags |= proto::kOpenUndo;
  if (r.keep_cache) flags |= proto::kOpenKeepCache;
  return flags;
}

// Compression only when the far side can decompress (an older peer without
// the zstd feature gets plain DATA, with a note under -v).
uint8_t compress_level(const SyncRequest& r, uint64_t features) {
  if (r.compress_level > 0 && !(features & proto::kFeatureZstd)) {
    log::verbose("the far side does not offer zstd; sending uncompressed");
    return 0;
  }
  return static_cast<uint8_t>(r.compress_level);
}

bool has(const proto::Open& open, uint16_t flag) { return (open.flags & flag) != 0; }

// The target runs on the client (a pull): the one receiving side whose user
// can stop it while the far side sends.
bool target_is_pull_client(const proto::Open& open) { return open.role == proto::Role::kServerIsSource; }

}  // namespace

proto::Open open_request(const SyncRequest& r, proto::Role role, uint64_t features) {
  return proto::Open{.role = role,
                     .hash_kind = r.hash_kind,
                     .flags = open_flags(r),
                     .block_size = r.block_size,
                     .path = role == proto::Role::kServerIsTarget ? r.target : r.source,
                     .checkpoint_bytes = r.checkpoint_bytes,
                     .checkpoint_seconds = r.checkpoint_seconds,
                     .bwlimit = r.bwlimit,
                     .compress_level = compress_level(r, features),
                     .has_keep = (features & proto::kFeatureGenerations) != 0,
                     .keep = r.keep,
                     .has_max_undo = r.max_undo.has_value() && (features & proto::kFeatureGenerations) != 0 &&
                                     (features & proto::kFeatureUndoCap) != 0,
                     .max_undo = r.max_undo.value_or(0)};
}

proto::Open with_source_facts(proto::Open open, const proto::OpenOk& ok, uint64_t features) {
  open.source_size = ok.size;
  open.source_id = ok.source_id;
  open.has_source_facts = (features & proto::kFeatureSourceFacts) != 0;
  open.source_mode = open.has_source_facts ? ok.source_mode : 0;
  return open;
}

SessionParams session_params(const proto::Open& open) {
  return SessionParams{.image_size = open.source_size,
                       .block_size = open.block_size,
                       .hash_kind = open.hash_kind,
                       .dry_run = has(open, proto::kOpenDryRun),
                       .verify = has(open, proto::kOpenVerify)};
}

SourceSessionOptions source_options(const proto::Open& open, uint64_t features) {
  return SourceSessionOptions{.checkpoint_bytes = std::max<uint64_t>(open.checkpoint_bytes, 1u << 20),
                              .checkpoint_seconds = std::max<double>(open.checkpoint_seconds, 1.0),
                              .checkpoints = (features & proto::kFeatureCheckpoint) != 0,
                              .bwlimit = open.bwlimit,
                              .compress_level = (features & proto::kFeatureZstd) != 0 ? open.compress_level : 0,
                              .stop_requests = target_is_pull_client(open) && (features & proto::kFeatureStop) != 0};
}

TargetOpenRequest target_open_request(const proto::Open& open) {
  return TargetOpenRequest{.source_size = open.source_size,
                           .dry_run = has(open, proto::kOpenDryRun),
                           .allow_larger_target = has(open, proto::kOpenAllowLargerTarget),
                           .source_id = open.source_id,
                           .block_size = open.block_size,
                           .hash_kind = open.hash_kind,
                           .restart = has(open, proto::kOpenRestart),
                           .force = has(open, proto::kOpenForce),
                           .retry = has(open, proto::kOpenRetry),
                           .source_mode = open.has_source_facts ? open.source_mode : 0,
                           .undo = has(open, proto::kOpenUndo),
                           .no_undo = has(open, proto::kOpenNoUndo),
                           .keep_cache = has(open, proto::kOpenKeepCache),
                           .keep = open.keep,
                           .max_undo = open.has_max_undo ? std::optional<uint64_t>(open.max_undo) : std::nullopt};
}

TargetSessionInput target_session_input(const proto::Open& open, uint64_t features, const OpenedTarget& target) {
  return TargetSessionInput{.device = target.device.get(),
                            .params = session_params(open),
                            .readable_size = target.readable_size,
                            .known_zero = target.known_zero,
                            .resume_offset = target.resume_offset,
                            .record = target.record ? &*target.record : nullptr,
                            .checkpoint = target.checkpoint,
                            .sync_directory = target.created_in.get(),
                            .sync_directory_shown = target.created_in_shown,
                            .stop_source = target_is_pull_client(open) && (features & proto::kFeatureStop) != 0,
                            .undo = target.undo.get(),
                            .keep = target.keep,
                            .report_undo = (features & proto::kFeatureGenerations) != 0};
}

}  // namespace sparsync
