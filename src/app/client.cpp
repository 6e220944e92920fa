#include "app/client.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "app/change_frames.h"
#include "app/change_tracker.h"
#include "app/push_source.h"
#include "app/session_settings.h"
#include "app/source_facts.h"
#include "app/summary.h"
#include "common/device.h"
#include "common/keepalive.h"
#include "common/log.h"
#include "common/printable.h"
#include "common/units.h"
#include "source/source_session.h"
#include "target/target_open.h"
#include "target/target_session.h"
#include "transport/lane_count.h"

namespace sparsync {
namespace {

// How long an interrupted pull waits for its source's final checkpoint.
constexpr uint32_t kStopWaitSeconds = 10;

Status read_open_ok(FrameReader& in, proto::OpenOk* ok) {
  Frame f;
  SPARSYNC_RETURN_IF_ERROR(in.read(&f));
  if (f.type != proto::MsgType::kOpenOk) return unexpected_frame(f, "OPEN_OK");
  return proto::decode(f.payload, ok);
}

void send_error(FrameWriter& out, const Status& s) { (void)out.write(proto::MsgType::kError, encode_error(s)); }

// After HELLO (PROTOCOL.md §4.16): with a far side that keeps its streams
// alive, announce our timeout and keep it for the whole session. An older
// far side goes quiet whenever it works (hashing, flushing), so with it the
// timeout guarded the HELLO answer only.
Status start_timeouts(FrameReader& in, FrameWriter& out, const SyncRequest& r, uint64_t features, PeerTimeout* peer) {
  if (!(features & proto::kFeatureKeepalive)) {
    if (r.timeout > 0)
      log::verbose("the far side does not send keepalives (an older sparsync); --timeout is off for this run");
    in.set_timeout(0, "");
    out.set_timeout(0, "");
    return Status::ok();
  }
  in.accept_keepalives(peer);
  return out.write(proto::MsgType::kKeepalive, proto::encode(proto::Keepalive{r.timeout}));
}

// The most lanes a push may use: none in a dry run (nothing to carry), on a
// transport without them, or with a server that does not know them.
uint16_t lanes_allowed(const Transport& t, const SyncRequest& r, uint64_t features) {
  if (r.dry_run || !(features & proto::kFeatureLanes)) return 0;
  int n = std::min(r.lanes > 0 ? r.lanes : kAutoLanesMost, t.lane_capacity());
  return n >= 2 ? static_cast<uint16_t>(n) : 0;
}

std::string format_duration_ms(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", seconds * 1000);
  return buf;
}

// After OPEN_OK with kOpenLanes: reads LANES, opens as many lanes as the
// round trip (OPEN to OPEN_OK) calls for and says how many in LANES_START.
// Returns the fd the session writes to from now on: the lanes', or -1 to
// stay on the main stream. A lane the far sshd refuses (forwarding
// disabled) costs speed on a long link, not the run.
Result<int> start_lanes(Transport& t, FrameReader& in, FrameWriter& out, uint16_t most, bool exact, double round_trip) {
  Frame f;
  SPARSYNC_RETURN_IF_ERROR(in.read(&f));
  if (f.type != proto::MsgType::kLanes) return unexpected_frame(f, "LANES");
  proto::Lanes offer;
  SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &offer));
  uint16_t wanted = exact ? most : lanes_for_round_trip(round_trip, most);
  int fd = -1;
  if (offer.path.empty()) {
    log::verbose("the far side offers no lanes; using one channel");
  } else if (wanted == 0) {
    log::verbose("round trip " + format_duration_ms(round_trip) + ": one channel keeps up; no lanes");
  } else {
    auto opened = t.open_lanes(offer, wanted);
    if (opened.is_ok()) {
      fd = opened.value();
      log::verbose("round trip " + format_duration_ms(round_trip) + ": sending over " + std::to_string(wanted) +
                   " lanes");
    } else {
      log::verbose("no lanes (" + opened.status().message() + "); using one channel");
    }
  }
  proto::LanesStart start{static_cast<uint16_t>(fd >= 0 ? wanted : 0)};
  SPARSYNC_RETURN_IF_ERROR(out.write(proto::MsgType::kLanesStart, proto::encode(start)));
  return fd;
}

// The target's answer to CHANGES in OPEN_OK's bits 8-11 (PROTOCOL.md §4.19).
Result<proto::ChangesAnswer> changes_answer(const proto::OpenOk& ok) {
  const auto value = static_cast<uint8_t>((ok.flags & proto::kOpenOkChangesMask) >> proto::kOpenOkChangesShift);
  if (value > proto::kMaxChangesAnswer) {
    return Status(ErrorKind::kProtocol,
                  "the far side answered the change list with an unknown value " + std::to_string(value));
  }
  return static_cast<proto::ChangesAnswer>(value);
}

Status push(Transport& t, FrameReader& in, FrameWriter& main_out, const SyncRequest& r, SyncOutcome* o) {
  auto opened = r.changes != nullptr ? r.changes->open_source(r) : open_push_source(r);
  if (!opened.is_ok()) return opened.status();
  std::unique_ptr<Device> source = opened.take();
  uint64_t features = 0;
  SPARSYNC_RETURN_IF_ERROR(t.hello(in, main_out, &features));
  log::verbose("negotiated features: " + describe_features(features));
  PeerTimeout peer_timeout;
  SPARSYNC_RETURN_IF_ERROR(start_timeouts(in, main_out, r, features, &peer_timeout));
  if (r.max_undo && (features & proto::kFeatureUndoCap) == 0) {
    return Status(ErrorKind::kTarget, "the sparsync on " + t.peer_name() +
                                          " cannot cap its undo journal (an older version): update it there, or "
                                          "drop --max-undo to use its default");
  }
  uint16_t lanes = lanes_allowed(t, r, features);
  // The far target would ignore a keep it cannot read: the generations the
  // user relies on would silently not be kept.
  if (r.keep != proto::kKeepUnchanged && !(features & proto::kFeatureGenerations)) {
    return Status(ErrorKind::kUsage,
                  "the far side's sparsync is too old for --keep (kept generations); update it, "
                  "or run without --keep");
  }
  const bool facts_negotiated = (features & proto::kFeatureSourceFacts) != 0;
  SourceFacts facts = source_facts(*source);
  if (!facts.live.empty()) {
    log::info(facts.live_warning(r.source));
    o->source_live = true;
  }
  proto::Open open = open_request(r, proto::Role::kServerIsTarget, features);
  if (lanes > 0) open.flags |= proto::kOpenLanes;
  open.source_size = source->size();
  open.source_id = source->identity();
  open.has_source_facts = facts_negotiated;
  open.source_mode = facts_negotiated ? facts.mode : 0;
  const bool send_changes_list = r.changes != nullptr && (features & proto::kFeatureChanges) != 0;
  if (r.changes != nullptr) SPARSYNC_RETURN_IF_ERROR(r.changes->plan(*source, session_params(open), r.dry_run));
  if (send_changes_list) open.flags |= proto::kOpenChanges;
  auto open_sent = std::chrono::steady_clock::now();
  SPARSYNC_RETURN_IF_ERROR(main_out.write(proto::MsgType::kOpen, proto::encode(open)));
  // The change list goes right behind OPEN, without waiting for its answer.
  if (send_changes_list) {
    Status sent = send_changes(main_out, r.changes->run_token(), r.changes->base_token(), r.changes->list());
    // A far side that refused OPEN stops reading: its ERROR says why.
    proto::OpenOk refused;
    if (!sent.is_ok()) {
      Status answer = read_open_ok(in, &refused);
      return answer.from_peer() ? answer : sent;
    }
  }
  o->image_size = source->size();
  proto::OpenOk ok;
  SPARSYNC_RETURN_IF_ERROR(read_open_ok(in, &ok));
  double round_trip = std::chrono::duration<double>(std::chrono::steady_clock::now() - open_sent).count();
  int lanes_fd = -1;
  if (lanes > 0) {
    auto started = start_lanes(t, in, main_out, lanes, r.lanes > 0, round_trip);
    if (!started.is_ok()) return started.status();
    lanes_fd = started.value();
  }
  // With lanes, everything the source sends from here on goes over them.
  FrameWriter lanes_out(lanes_fd);
  if (lanes_fd >= 0) lanes_out.set_timeout(r.timeout, t.peer_name());
  FrameWriter& out = lanes_fd >= 0 ? lanes_out : main_out;
  // Keepalives go where the server reads from now on: over the lanes, if any.
  Heartbeat heartbeat(out, r.timeout, peer_timeout);
  if (features & proto::kFeatureKeepalive) heartbeat.start();
  o->source_shown = r.source_stdin ? "stdin" : resolved_path(r.source);
  // The path the far side says it opened is its text: escaped for the summary, -v and JSON.
  o->target_shown = t.peer_name() == "local" ? printable(ok.path) : t.peer_name() + ":" + printable(ok.path);
  o->target_created = ok.state == proto::TargetState::kCreated;
  if (facts_negotiated) {
    o->checkpoint_ignored = checkpoint_ignored_name(
        static_cast<CheckpointIgnored>((ok.flags & proto::kOpenOkIgnoredMask) >> proto::kOpenOkIgnoredShift));
  }
  log::verbose("target " + o->target_shown + (o->target_created ? " (created)" : ""));
  o->session_started = true;
  SourceSessionOptions options = source_options(open, features);
  options.progress = r.progress;
  options.change_map = r.change_map;
  if (r.changes != nullptr) {
    std::optional<proto::ChangesAnswer> answer;
    if (send_changes_list) {
      auto a = changes_answer(ok);
      if (!a.is_ok()) return a.status();
      answer = a.value();
    }
    r.changes->answered(answer, &options);
    o->change_source = r.changes->change_source();
    o->fallback_reason = r.changes->fallback_reason();
  }
  SourceSessionResult result;
  // The source stops at its own safe points on a signal (final checkpoint,
  // then its ACK), so the receiver must go on reading.
  in.set_interruptible(false);
  Status s = run_source_session(*source, session_params(open), options, in, out, &result);
  heartbeat.stop();
  o->stats = result.stats;
  if (r.changes != nullptr) o->stats.bytes_read += r.changes->early_bytes_read();
  if (lanes_fd >= 0) o->stats.wire_bytes_out += main_out.bytes_written();
  o->verified = result.verified;
  o->verify = result.verify;
  return s;
}

Status pull(Transport& t, FrameReader& in, FrameWriter& out, const SyncRequest& r, SyncOutcome* o) {
  uint64_t features = 0;
  SPARSYNC_RETURN_IF_ERROR(t.hello(in, out, &features));
  log::verbose("negotiated features: " + describe_features(features));
  PeerTimeout peer_timeout;
  SPARSYNC_RETURN_IF_ERROR(start_timeouts(in, out, r, features, &peer_timeout));
  const proto::Open open = open_request(r, proto::Role::kServerIsSource, features);
  SPARSYNC_RETURN_IF_ERROR(out.write(proto::MsgType::kOpen, proto::encode(open)));
  proto::OpenOk ok;
  SPARSYNC_RETURN_IF_ERROR(read_open_ok(in, &ok));
  o->image_size = ok.size;
  // Opening the target can wait for a lock (a retry): the source waits too.
  Heartbeat heartbeat(out, r.timeout, peer_timeout);
  if (features & proto::kFeatureKeepalive) heartbeat.start();
  o->source_shown = t.peer_name() + ":" + printable(ok.path);
  const bool facts_negotiated = (features & proto::kFeatureSourceFacts) != 0;
  o->source_live = facts_negotiated && (ok.flags & proto::kOpenOkSourceLive) != 0;
  // Both hosts go on from the OPEN completed with what OPEN_OK said of the source.
  const proto::Open agreed = with_source_facts(open, ok, features);
  auto target = open_target(target_open_request(agreed), r.target);
  if (!target.is_ok()) {
    send_error(out, target.status());
    return target.status();
  }
  OpenedTarget opened = target.take();
  if (!opened.notice.empty()) log::info(opened.notice);
  o->target_shown = opened.reply.path;
  o->target_created = opened.reply.state == proto::TargetState::kCreated;
  o->checkpoint_ignored = checkpoint_ignored_name(opened.ignored);
  o->session_started = true;
  TargetSessionInput input = target_session_input(agreed, features, opened);
  input.progress = r.progress;
  input.change_map = r.change_map;
  // A signal stops a pull as it stops a push: the source is asked for a final
  // checkpoint, which it sends at once, so a short wait is enough (and a far
  // side that has gone quiet costs no more than that).
  input.stop_wait = std::chrono::milliseconds(
      1000 * std::min<uint32_t>(r.timeout > 0 ? r.timeout : kStopWaitSeconds, kStopWaitSeconds));
  TargetSessionResult result;
  Status s = run_target_session(input, in, out, &result);
  heartbeat.stop();
  o->stats = result.stats;
  o->stats.resumed_from = opened.resume_offset;
  o->stats.wire_bytes_out = out.bytes_written();
  o->verified = result.verified;
  o->verify = result.verify;
  return s;
}

std::string far_side_name(const Transport& t) {
  return t.peer_name() == "local" ? "the local server process" : t.peer_name();
}

// A timeout after the session started leaves the target resumable: say from where.
Status with_checkpoint_note(const Status& s, const SyncRequest& r, const SyncOutcome& o) {
  if (!o.session_started || r.dry_run) return s;
  uint64_t at = o.stats.durable_offset;
  std::string note = at > 0 ? "; the target is checkpointed at " + format_bytes(at) +
                                  (o.image_size > 0 ? " of " + format_bytes(o.image_size) : "") +
                                  ": run the same command to resume"
                            : "; run the same command to resume";
  return Status(s.kind(), s.message() + note).as_timeout();
}

}  // namespace

Status run_client(Transport& transport, const SyncRequest& request, SyncOutcome* outcome) {
  for (const std::string* p : {&request.source, &request.target}) {
    if (p->size() > proto::kMaxPathBytes) {
      return Status(ErrorKind::kUsage, "path of " + std::to_string(p->size()) + " bytes is longer than the " +
                                           std::to_string(proto::kMaxPathBytes) + " sparsync accepts");
    }
  }
  auto start = std::chrono::steady_clock::now();
  FrameReader in(transport.read_fd());
  FrameWriter out(transport.write_fd());
  const std::string peer = far_side_name(transport);
  in.set_timeout(request.timeout, peer);
  out.set_timeout(request.timeout, peer);
  // Until the sync phase, a signal simply ends the wait: nothing is written yet.
  in.set_interruptible(true);
  Status s = request.pull ? pull(transport, in, out, request, outcome) : push(transport, in, out, request, outcome);
  if (s.timed_out() || s.kind() == ErrorKind::kInterrupted) {
    // A far side that went quiet may be hung: do not wait for its exit.
    transport.abandon();
    if (s.timed_out()) s = with_checkpoint_note(s, request, *outcome);
    if (s.kind() == ErrorKind::kInterrupted && !outcome->session_started) {
      s = Status(ErrorKind::kInterrupted, "interrupted before the sync started; run the same command to start it");
    }
    outcome->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return s;
  }
  transport.close_write();
  Status ended = transport.finish();
  if (s.is_ok() && !ended.is_ok()) s = ended;
  // When the stream broke, the far side's exit status says more than EOF.
  if (!s.is_ok() && s.kind() == ErrorKind::kConnection && !ended.is_ok()) s = ended.with_context(s.message());
  // A far side that exited 0 before the session ended: say who stopped.
  if (!s.is_ok() && s.kind() == ErrorKind::kConnection && ended.is_ok() && !s.from_peer()) {
    s = Status(ErrorKind::kConnection, s.message() + ": the server on " + transport.peer_name() +
                                           " exited (status 0) before the session ended");
  }
  // The far side's own words, marked with where they come from.
  if (!s.is_ok() && s.from_peer() && transport.peer_name() != "local") s = s.with_context(transport.peer_name());
  outcome->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

bool valid_block_size(uint64_t size) {
  return size >= proto::kMinBlockSize && size <= proto::kMaxBlockSize && (size & (size - 1)) == 0;
}

}  // namespace sparsync
