#include "app/remote_rollback.h"

#include "common/frame_io.h"
#include "common/printable.h"
#include "common/proto/messages.h"

namespace sparsync {
namespace {

// What to do after a rollback that may or may not have happened: replaying a
// journal twice is the same as once (docs/undo-journal.md "Rollback").
constexpr const char* kRunAgain = "; it may not have finished: run the same command again (a rollback can be repeated)";

proto::Rollback rollback_request(const std::string& path, const RollbackTo& to) {
  return proto::Rollback{static_cast<proto::RollbackToKind>(to.kind), to.value, path};
}

// After HELLO (PROTOCOL.md §4.16): announce our timeout to a far side that
// keeps its stream alive (it does while it rolls back); an older one goes
// quiet while it works, so the bound would only cut it off.
Status start_timeouts(FrameReader& in, FrameWriter& out, uint64_t features, uint32_t timeout, PeerTimeout* peer) {
  if (!(features & proto::kFeatureKeepalive)) {
    in.set_timeout(0, "");
    out.set_timeout(0, "");
    return Status::ok();
  }
  in.accept_keepalives(peer);
  return out.write(proto::MsgType::kKeepalive, proto::encode(proto::Keepalive{timeout}));
}

Result<std::string> read_report(FrameReader& in) {
  Frame f;
  SPARSYNC_RETURN_IF_ERROR(in.read(&f));
  if (f.type != proto::MsgType::kRollbackDone) return unexpected_frame(f, "ROLLBACK_DONE");
  proto::RollbackDone done;
  SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &done));
  return done.report;
}

// Asks, and waits for the answer; the far side's ERROR comes back as it is.
Result<std::string> ask(Transport& t, FrameReader& in, FrameWriter& out, const std::string& path, const RollbackTo& to,
                        uint32_t timeout) {
  uint64_t features = 0;
  SPARSYNC_RETURN_IF_ERROR(t.hello(in, out, &features));
  // A far side without the feature would take ROLLBACK for a broken frame.
  if (!(features & proto::kFeatureRollback)) {
    return Status(ErrorKind::kProtocol, t.peer_name() +
                                            "'s sparsync is too old to roll back over the connection; run "
                                            "sparsync --rollback " +
                                            printable(path) + " there, or give --remote-path a newer sparsync");
  }
  PeerTimeout peer;
  SPARSYNC_RETURN_IF_ERROR(start_timeouts(in, out, features, timeout, &peer));
  SPARSYNC_RETURN_IF_ERROR(out.write(proto::MsgType::kRollback, proto::encode(rollback_request(path, to))));
  return read_report(in);
}

}  // namespace

Result<std::string> run_remote_rollback(Transport& t, const std::string& path, const RollbackTo& to, uint32_t timeout) {
  if (path.size() > proto::kMaxPathBytes) {
    return Status(ErrorKind::kUsage, "path of " + std::to_string(path.size()) + " bytes is longer than the " +
                                         std::to_string(proto::kMaxPathBytes) + " sparsync accepts");
  }
  const std::string host = t.peer_name();
  FrameReader in(t.read_fd());
  FrameWriter out(t.write_fd());
  in.set_timeout(timeout, host);
  out.set_timeout(timeout, host);
  in.set_interruptible(true);
  auto report = ask(t, in, out, path, to, timeout);
  if (!report.is_ok() && (report.status().timed_out() || report.status().kind() == ErrorKind::kInterrupted)) {
    // A far side that went quiet may be hung: do not wait for its exit.
    t.abandon();
    Status s(report.status().kind(), report.status().message() + kRunAgain);
    return report.status().timed_out() ? s.as_timeout() : s;
  }
  t.close_write();
  Status ended = t.finish();
  // ROLLBACK_DONE means the target is back and flushed: the far exit adds nothing.
  if (report.is_ok()) return host + ": " + printable(report.value());
  Status s = report.status();
  if (s.from_peer()) return s.with_context(host);
  // When the stream broke, the far side's exit status says more than EOF.
  if (s.kind() == ErrorKind::kConnection && !ended.is_ok()) s = ended.with_context(s.message());
  if (s.kind() == ErrorKind::kConnection) return Status(s.kind(), s.message() + kRunAgain);
  return s;
}

}  // namespace sparsync
