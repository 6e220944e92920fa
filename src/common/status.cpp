#include "common/status.h"

#include <cstring>

namespace sparsync {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kOk:
      return "ok";
    case ErrorKind::kUsage:
      return "usage";
    case ErrorKind::kSource:
      return "source";
    case ErrorKind::kTarget:
      return "target";
    case ErrorKind::kConnection:
      return "connection";
    case ErrorKind::kProtocol:
      return "protocol";
    case ErrorKind::kVerify:
      return "verify";
    case ErrorKind::kCommand:
      return "command";
    case ErrorKind::kInterrupted:
      return "interrupted";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "unknown";
}

Status Status::with_context(const std::string& context) const {
  if (is_ok() || timed_out_) return *this;
  Status s(kind_, context + ": " + message_);
  s.from_peer_ = from_peer_;
  return s;
}

Status errno_status(ErrorKind kind, const std::string& what, int err) {
  return Status(kind, what + ": " + std::strerror(err));
}

}  // namespace sparsync
