#include "common/handshake.h"

#include <string>

#include "common/printable.h"

namespace sparsync {

std::string software_version() { return std::string("sparsync ") + SPARSYNC_VERSION; }

static Status version_mismatch(const proto::Hello& peer, const char* peer_role) {
  return Status(ErrorKind::kProtocol,
                std::string(peer_role) + " (" + printable(peer.software) + ") speaks protocol version " +
                    std::to_string(peer.version) + ", this " + software_version() + " speaks version " +
                    std::to_string(proto::kProtocolVersion) + "; install the same sparsync version on both hosts");
}

Status client_hello(FrameReader& in, FrameWriter& out, uint64_t* features) {
  proto::Hello mine;
  mine.software = software_version();
  SPARSYNC_RETURN_IF_ERROR(out.write(proto::MsgType::kHello, proto::encode(mine)));
  Frame f;
  SPARSYNC_RETURN_IF_ERROR(in.read(&f));
  if (f.type != proto::MsgType::kHello) return unexpected_frame(f, "HELLO");
  proto::Hello peer;
  SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &peer));
  if (peer.version != proto::kProtocolVersion) return version_mismatch(peer, "the far side");
  *features = mine.features & peer.features;
  return Status::ok();
}

// The client may not be sparsync at all: answer garbage with ERROR, so a
// human at the other end sees why, then give up.
static Status refuse(FrameWriter& out, const Status& s) {
  if (s.from_peer() || s.kind() == ErrorKind::kConnection) return s;
  (void)out.write(proto::MsgType::kError, encode_error(s));
  return s;
}

Status server_hello(FrameReader& in, FrameWriter& out, uint64_t* features) {
  Frame f;
  Status s = in.read(&f);
  if (!s.is_ok()) return refuse(out, s);
  if (f.type != proto::MsgType::kHello) return refuse(out, unexpected_frame(f, "HELLO"));
  proto::Hello peer;
  s = proto::decode(f.payload, &peer);
  if (!s.is_ok()) return refuse(out, s);
  if (peer.version != proto::kProtocolVersion) {
    return refuse(out, version_mismatch(peer, "the client"));
  }
  proto::Hello mine;
  mine.software = software_version();
  SPARSYNC_RETURN_IF_ERROR(out.write(proto::MsgType::kHello, proto::encode(mine)));
  *features = mine.features & peer.features;
  return Status::ok();
}

}  // namespace sparsync
