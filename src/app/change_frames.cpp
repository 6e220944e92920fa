#include "app/change_frames.h"

#include "common/proto/messages.h"

namespace sparsync {

std::string token_bytes(const proto::ChangeToken& token) { return std::string(token.begin(), token.end()); }

Status send_changes(FrameWriter& out, const proto::ChangeToken& run, const proto::ChangeToken& base,
                    const ChangeList& ranges) {
  for (const proto::Changes& frame : proto::split_changes(run, base, ranges.ranges())) {
    SPARSYNC_RETURN_IF_ERROR(out.write(proto::MsgType::kChanges, proto::encode(frame)));
  }
  return Status::ok();
}

Status receive_changes(FrameReader& in, uint64_t image_size, uint32_t block_size, ReceivedChanges* changes) {
  bool first = true;
  bool any = false;
  uint64_t last_end = 0;
  size_t count = 0;
  for (;;) {
    Frame f;
    SPARSYNC_RETURN_IF_ERROR(in.read(&f).with_context("client"));
    if (f.type != proto::MsgType::kChanges) return unexpected_frame(f, "CHANGES");
    proto::Changes c;
    SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &c));
    const std::string run = token_bytes(c.run_token);
    const std::string base = proto::is_zero(c.base_token) ? std::string() : token_bytes(c.base_token);
    if (first) {
      changes->run_token = run;
      changes->base_token = base;
    } else if (run != changes->run_token || base != changes->base_token) {
      return Status(ErrorKind::kProtocol, "CHANGES frames of one change list name different runs");
    }
    count += c.ranges.size();
    if (count > proto::kMaxChangeRanges) {
      return Status(ErrorKind::kProtocol,
                    "the change list holds more than " + std::to_string(proto::kMaxChangeRanges) + " ranges");
    }
    for (const ByteRange& r : c.ranges) {
      if (any && r.offset <= last_end) {
        return Status(ErrorKind::kProtocol, "CHANGES ranges are out of order across frames");
      }
      if (r.end() > image_size) {
        return Status(ErrorKind::kProtocol, "a CHANGES range " + std::to_string(r.offset) + "+" +
                                                std::to_string(r.length) + " lies past the image end " +
                                                std::to_string(image_size));
      }
      changes->ranges.add(r.offset, r.length);
      last_end = r.end();
      any = true;
    }
    first = false;
    if ((c.flags & proto::kChangesMore) == 0) break;
  }
  changes->ranges.align(block_size, image_size);
  return Status::ok();
}

}  // namespace sparsync
