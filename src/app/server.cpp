#include "app/server.h"

#include <fcntl.h>

#include "app/change_frames.h"
#include "app/server_fence.h"
#include "app/server_rollback.h"
#include "app/session_settings.h"
#include "app/source_facts.h"
#include "app/sync_request.h"
#include "common/device.h"
#include "common/handshake.h"
#include "common/keepalive.h"
#include "common/log.h"
#include "source/source_session.h"
#include "target/target_open.h"
#include "target/target_session.h"
#include "transport/lane_listener.h"
#include "transport/lane_reader.h"

namespace sparsync {
static_assert(ServerTimeout{}.seconds == kDefaultIdleTimeout);
namespace {

Status refuse(FrameWriter& out, const Status& s) {
  (void)out.write(proto::MsgType::kError, encode_error(s));
  return s;
}

// How long the client has to connect its lanes after LANES_START: channel
// opens take a round trip, so this only matters when something is wrong.
constexpr double kLaneJoinSeconds = 30;

// With kOpenLanes, right after OPEN_OK: offer a lane socket (LANES), read
// how many lanes the client opened (LANES_START) and accept them. Fills
// `lanes` with the reader of the client's stream, or leaves it empty when
// the stream stays on `in` (no listener here, or the client opened none).
Status set_up_lanes(FrameReader& in, FrameWriter& out, std::unique_ptr<LaneReader>* lanes) {
  auto created = LaneListener::create(sudo_caller());
  proto::Lanes offer;
  std::unique_ptr<LaneListener> listener;
  if (created.is_ok()) {
    listener = created.take();
    offer = listener->offer();
  } else {
    log::verbose("no lanes: " + created.status().message());
  }
  SPARSYNC_RETURN_IF_ERROR(out.write(proto::MsgType::kLanes, proto::encode(offer)));
  Frame f;
  SPARSYNC_RETURN_IF_ERROR(in.read(&f).with_context("client"));
  if (f.type == proto::MsgType::kError) return unexpected_frame(f, "LANES_START");
  if (f.type != proto::MsgType::kLanesStart) return refuse(out, unexpected_frame(f, "LANES_START"));
  proto::LanesStart start;
  Status decoded = proto::decode(f.payload, &start);
  if (!decoded.is_ok()) return refuse(out, decoded);
  if (start.count == 0) return Status::ok();
  if (listener == nullptr) {
    return refuse(out, Status(ErrorKind::kProtocol, "client started lanes that were not offered"));
  }
  auto accepted = listener->accept_lanes(start.count, kLaneJoinSeconds);
  if (!accepted.is_ok()) return refuse(out, accepted.status());
  log::verbose("receiving over " + std::to_string(start.count) + " lanes");
  *lanes = std::make_unique<LaneReader>(accepted.take());
  return Status::ok();
}

// Symlinks of sudo's caller are followed like our own: that user named the
// path, and could name the link's target as well.
PathTrust trusted_users() {
  PathTrust trust;
  if (auto caller = sudo_caller()) trust.symlink_owners.push_back(caller->uid);
  return trust;
}

// Tells the client why a checkpoint beside the target was not resumed from.
uint16_t open_ok_flags(CheckpointIgnored ignored) {
  return static_cast<uint16_t>(static_cast<int>(ignored) << proto::kOpenOkIgnoredShift);
}

Status serve_target(const proto::Open& open, const ResolvedPath& where, uint64_t features, FrameReader& main_in,
                    FrameWriter& out) {
  TargetOpenRequest request = target_open_request(open);
  // The change list follows OPEN at once (PROTOCOL.md §4.19), read whole
  // before the target is opened: its answer goes in OPEN_OK.
  ReceivedChanges changes;
  if ((open.flags & proto::kOpenChanges) != 0) {
    Status received = receive_changes(main_in, open.source_size, open.block_size, &changes);
    if (!received.is_ok()) return refuse(out, received);
    request.changes = true;
    request.run_token = changes.run_token;
    request.base_token = changes.base_token;
  }
  auto target = open_target(request, where);
  if (!target.is_ok()) return refuse(out, target.status());
  OpenedTarget t = target.take();
  // Relayed to the user's terminal by the client (stderr of the far side).
  if (!t.notice.empty()) log::info(t.notice);
  if ((features & proto::kFeatureSourceFacts) != 0) t.reply.flags |= open_ok_flags(t.ignored);
  if (request.changes) {
    t.reply.flags |= static_cast<uint16_t>(static_cast<int>(t.changes_answer) << proto::kOpenOkChangesShift);
  }
  SPARSYNC_RETURN_IF_ERROR(out.write(proto::MsgType::kOpenOk, proto::encode(t.reply)));
  std::unique_ptr<LaneReader> lanes;
  if ((open.flags & proto::kOpenLanes) != 0) {
    SPARSYNC_RETURN_IF_ERROR(set_up_lanes(main_in, out, &lanes));
  }
  // With lanes, the client's stream goes on over them; the main one is done.
  FrameReader lane_in(lanes.get());
  main_in.copy_settings_to(lane_in);
  FrameReader& in = lanes ? lane_in : main_in;
  TargetSessionInput input = target_session_input(open, features, t);
  if (request.changes) {
    if (t.changes_answer == proto::ChangesAnswer::kAccepted) input.hash_only = &changes.ranges.ranges();
    input.synced = t.synced ? &*t.synced : nullptr;
    input.run_token = changes.run_token;
  }
  TargetSessionResult result;
  // A verify mismatch is the client's verdict to report (it knows both
  // digests and prints where they differ); the server's part ended well.
  SPARSYNC_RETURN_IF_ERROR(run_target_session(input, in, out, &result));
  if (result.verified && !result.verify.match) log::verbose("verify: target differs from the source");
  return Status::ok();
}

Status serve_source(const proto::Open& open, const ResolvedPath& where, uint64_t features, FrameReader& in,
                    FrameWriter& out) {
  auto opened = FileDevice::open(where, false, ErrorKind::kSource, (open.flags & proto::kOpenRetry) != 0);
  if (!opened.is_ok()) return refuse(out, opened.status());
  std::unique_ptr<FileDevice> source = opened.take();
  if ((open.flags & proto::kOpenKeepCache) == 0) enable_cold_reads(*source);
  proto::OpenOk ok;
  ok.kind = source->kind();
  ok.size = source->size();
  ok.path = where.shown();
  ok.source_id = source->identity();
  SourceFacts facts = source_facts(*source);
  if (!facts.live.empty()) log::info(facts.live_warning(where.given));
  if ((features & proto::kFeatureSourceFacts) != 0) {
    ok.source_mode = facts.mode;
    if (!facts.live.empty()) ok.flags |= proto::kOpenOkSourceLive;
  }
  SPARSYNC_RETURN_IF_ERROR(out.write(proto::MsgType::kOpenOk, proto::encode(ok)));
  // Both hosts go on from the OPEN completed with what OPEN_OK said of the source.
  const proto::Open agreed = with_source_facts(open, ok, features);
  SourceSessionResult result;
  SPARSYNC_RETURN_IF_ERROR(
      run_source_session(*source, session_params(agreed), source_options(agreed, features), in, out, &result));
  if (result.verified && !result.verify.match) log::verbose("verify: target differs from the source");
  return Status::ok();
}

// The idle timeout for the rest of the session (PROTOCOL.md §4.16): the one
// given on this command line (a forced command's policy), else the client's
// (its user's --timeout, 0 included), else the default. A client without the
// feature sends no keepalives and is quiet while it works, so the bound that
// covered HELLO and OPEN ends here.
uint32_t session_timeout(const ServerTimeout& mine, uint64_t features, const PeerTimeout& client) {
  if (!(features & proto::kFeatureKeepalive)) {
    if (mine.seconds > 0) log::verbose("the client sends no keepalives (an older sparsync); no idle timeout");
    return 0;
  }
  if (mine.given || !client.known()) return mine.seconds;
  return client.seconds();
}

Status serve(const ServerFence& fence, const ServerTimeout& timeout, FrameReader& in, FrameWriter& out) {
  uint64_t features = 0;
  SPARSYNC_RETURN_IF_ERROR(server_hello(in, out, &features));
  PeerTimeout client_timeout;
  if (features & proto::kFeatureKeepalive) in.accept_keepalives(&client_timeout);
  Frame f;
  Status s = in.read(&f);
  // A bad header (unknown type, oversized length) is answered like any bad
  // frame (PROTOCOL.md §5); a closed stream has nobody to answer.
  if (!s.is_ok()) return s.kind() == ErrorKind::kProtocol ? refuse(out, s) : s;
  const uint32_t seconds = session_timeout(timeout, features, client_timeout);
  in.set_timeout(seconds, "the client");
  out.set_timeout(seconds, "the client");
  // Announced before any answer to OPEN, and kept alive from here on: opening
  // the target may wait for a lock, a pull's source is quiet while it reads.
  Heartbeat heartbeat(out, seconds, client_timeout);
  if (features & proto::kFeatureKeepalive) {
    SPARSYNC_RETURN_IF_ERROR(out.write(proto::MsgType::kKeepalive, proto::encode(proto::Keepalive{seconds})));
    heartbeat.start();
  }
  // ROLLBACK may come instead of OPEN (§4.18): answered, then the session ends.
  if (f.type == proto::MsgType::kRollback) {
    auto report = roll_back_for_client(fence, f, features, trusted_users());
    if (!report.is_ok()) return refuse(out, report.status());
    return out.write(proto::MsgType::kRollbackDone, proto::encode(proto::RollbackDone{report.value()}));
  }
  if (f.type != proto::MsgType::kOpen) return refuse(out, unexpected_frame(f, "OPEN or ROLLBACK"));
  proto::Open open;
  s = proto::decode(f.payload, &open);
  if (!s.is_ok()) return refuse(out, s);
  if (!valid_block_size(open.block_size)) {
    return refuse(out, Status(ErrorKind::kProtocol, "block size " + std::to_string(open.block_size) +
                                                        " is not a power of two from 4 KiB to 4 MiB"));
  }
  if ((open.flags & proto::kOpenChanges) != 0 &&
      (!(features & proto::kFeatureChanges) || open.role != proto::Role::kServerIsTarget)) {
    return refuse(out, Status(ErrorKind::kProtocol, "a change list came without the feature, or in a pull"));
  }
  if ((open.flags & proto::kOpenLanes) != 0 &&
      (!(features & proto::kFeatureLanes) || open.role != proto::Role::kServerIsTarget)) {
    return refuse(out, Status(ErrorKind::kProtocol, "lanes were asked for without the lanes feature, or in a pull"));
  }
  if (open.hash_kind == proto::HashKind::kSha256 && !(features & proto::kFeatureSha256)) {
    return refuse(out, Status(ErrorKind::kProtocol, "SHA-256 block hashes were not negotiated"));
  }
  // The fence (docs/security.md "Fencing the far side") is decided before the path is
  // opened: no target is created, no checkpoint looked at. What it resolved
  // is what is opened, relative to its directory.
  auto where = fenced_resolve(fence, open.role, open.path, trusted_users());
  if (!where.is_ok()) return refuse(out, where.status());
  if (open.role == proto::Role::kServerIsTarget) return serve_target(open, where.value(), features, in, out);
  return serve_source(open, where.value(), features, in, out);
}

// sshd (or the local client) feeds us through pipes of 64 KiB by default, so
// a 1 MiB DATA frame costs 16 reads and as many wake-ups of both processes.
// 1 MiB pipes (the unprivileged maximum by default) make it one or two. Not
// a pipe, or a lower limit: nothing changes.
void widen_pipe(int fd) { (void)::fcntl(fd, F_SETPIPE_SZ, 1 << 20); }

}  // namespace

int run_server(int in_fd, int out_fd) { return run_server(in_fd, out_fd, ServerFence{}); }

int run_server(int in_fd, int out_fd, const ServerFence& fence) {
  return run_server(in_fd, out_fd, fence, ServerTimeout{});
}

int run_server(int in_fd, int out_fd, const ServerFence& fence, const ServerTimeout& timeout) {
  log::set_prefix("sparsync[server]");
  widen_pipe(in_fd);
  widen_pipe(out_fd);
  FrameReader in(in_fd);
  FrameWriter out(out_fd);
  // Until the client announces its own: a hung client must not keep a
  // (root) server waiting for ever, not even for its HELLO.
  in.set_timeout(timeout.seconds, "the client");
  out.set_timeout(timeout.seconds, "the client");
  Status s = serve(fence, timeout, in, out);
  if (s.is_ok()) return 0;
  if (s.timed_out()) {
    log::error(s.message());
    return static_cast<int>(s.kind());
  }
  // What went to the client in an ERROR frame is printed there, once; what
  // came from the client was printed there already. Only a broken link, which
  // the client may not see explained, is worth a line here.
  // A client that hung up (before HELLO: it refused its own arguments, or was
  // a port probe; after it: a local problem, such as a missing source) has
  // explained itself, if at all: a line here, relayed to its terminal, would
  // only point the user at the network.
  if (s.kind() == ErrorKind::kConnection && !s.from_peer() && in.bytes_read() > 0 && !in.peer_hung_up()) {
    log::error(s.message());
  } else {
    log::verbose(s.message());
  }
  return static_cast<int>(s.kind());
}

}  // namespace sparsync
