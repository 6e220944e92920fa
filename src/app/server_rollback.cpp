#include "app/server_rollback.h"

#include "common/proto/messages.h"
#include "common/rollback_to.h"
#include "target/rollback.h"

namespace sparsync {
namespace {

// The wire's to_kind is RollbackTo::Kind, value for value (PROTOCOL.md §4.18).
static_assert(static_cast<uint8_t>(proto::RollbackToKind::kInterrupted) ==
              static_cast<uint8_t>(RollbackTo::Kind::kInterrupted));
static_assert(static_cast<uint8_t>(proto::RollbackToKind::kRunsBack) ==
              static_cast<uint8_t>(RollbackTo::Kind::kRunsBack));
static_assert(static_cast<uint8_t>(proto::RollbackToKind::kTime) == static_cast<uint8_t>(RollbackTo::Kind::kTime));

RollbackTo rollback_to_of(const proto::Rollback& request) {
  return RollbackTo{static_cast<RollbackTo::Kind>(request.to_kind), request.to_value};
}

}  // namespace

Result<std::string> roll_back_for_client(const ServerFence& fence, const Frame& request, uint64_t features,
                                         const PathTrust& trust) {
  // A client that did not see the bit in our HELLO must not send this
  // (§3); one that does anyway is not speaking the protocol.
  if (!(features & proto::kFeatureRollback)) {
    return Status(ErrorKind::kProtocol, "ROLLBACK was sent without the rollback feature negotiated");
  }
  proto::Rollback rollback;
  SPARSYNC_RETURN_IF_ERROR(proto::decode(request.payload, &rollback));
  // Rolling back writes the target, so it is fenced as a push onto it is:
  // decided before the path is opened, and what the fence resolved is what
  // rollback_target opens.
  auto where = fenced_resolve(fence, proto::Role::kServerIsTarget, rollback.path, trust);
  if (!where.is_ok()) return where.status();
  return rollback_target(where.value(), rollback.path, rollback_to_of(rollback));
}

}  // namespace sparsync
