// ReadOnlySource: the part every source that is not a file shares (a stream
// on stdin, an NBD export): it is never written, zeroed, resized or synced,
// and a call that tries is a programming error (kInternal) naming it.
// Thread-safety: stateless.
#pragma once

#include <cstdint>

#include "common/device.h"

namespace sparsync {

class ReadOnlySource : public Device {
 public:
  Status write_at(uint64_t, const uint8_t*, size_t) final { return refuse(); }
  Status zero_range(uint64_t, uint64_t) final { return refuse(); }
  Status set_size(uint64_t) final { return refuse(); }
  Status sync() final { return Status::ok(); }
  proto::ZeroMethod zero_method() const final { return proto::ZeroMethod::kNone; }

 private:
  Status refuse() const { return Status(ErrorKind::kInternal, path() + " is a source; it cannot be written"); }
};

}  // namespace sparsync
