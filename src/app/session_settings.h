// One derivation of a session from OPEN (PROTOCOL.md §4.1, and §4's
// "Session parameters"). The client
// builds the OPEN from what the user asked for; then each host derives the
// settings of the engine it runs from that same OPEN, client and server
// alike, so the two hosts agree by construction and a new option is added
// in one place: a field of proto::Open, its line in open_request, and its
// line in the derivation of the side that uses it.
#pragma once

#include <cstdint>

#include "app/sync_request.h"
#include "common/proto/messages.h"
#include "common/session.h"
#include "source/source_session.h"
#include "target/target_open.h"
#include "target/target_session.h"

namespace sparsync {

// The client's OPEN for `role`. The source's facts (size, identity, mode)
// are a push's to add: in a pull the far side knows them, and says them in
// OPEN_OK (with_source_facts).
proto::Open open_request(const SyncRequest& r, proto::Role role, uint64_t features);

// A pull's OPEN completed with the source's facts from OPEN_OK, so that the
// client's target side derives from what a push's server would have had.
proto::Open with_source_facts(proto::Open open, const proto::OpenOk& ok, uint64_t features);

// The run's shape, identical on both hosts.
SessionParams session_params(const proto::Open& open);

// The sending engine's settings. Floors keep a hostile OPEN from turning
// every chunk into an fdatasync; STOP is accepted only where the target is
// a pull's client, the one side that sends it (PROTOCOL.md §4.17).
SourceSessionOptions source_options(const proto::Open& open, uint64_t features);

// What the receiving side checks and opens the target with.
TargetOpenRequest target_open_request(const proto::Open& open);

// The receiving engine's input, from the OPEN and the opened target
// (which must outlive it: the input points into it). A pull's client may
// ask the source for a final checkpoint on a signal (kFeatureStop).
TargetSessionInput target_session_input(const proto::Open& open, uint64_t features, const OpenedTarget& target);

}  // namespace sparsync
