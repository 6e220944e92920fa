#include "support/fake_device.h"

#include <algorithm>
#include <cstring>

#include "support/files.h"

namespace sparsync::testing {

std::string to_string(const DeviceOp& op) {
  static const char* names[] = {"write", "zero", "sync", "set_size"};
  return std::string(names[op.kind]) + "(" + std::to_string(op.offset) + "," + std::to_string(op.length) + ")";
}

MemoryDevice::MemoryDevice(uint64_t size, ErrorKind role, proto::DeviceKind kind, std::string path)
    : path_(std::move(path)),
      role_(role),
      kind_(kind),
      bytes_(size, 0),
      allocated_((size + kPage - 1) / kPage, false) {}

void MemoryDevice::allocate(uint64_t offset, uint64_t len) {
  if (len == 0) return;
  for (uint64_t p = offset / kPage; p <= (offset + len - 1) / kPage && p < allocated_.size(); ++p) allocated_[p] = true;
}

bool MemoryDevice::page_allocated(uint64_t page) const {
  return page < allocated_.size() && allocated_[page];  // after a shrink: still "data"
}

void MemoryDevice::fill(uint64_t offset, const std::vector<uint8_t>& bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  std::copy(bytes.begin(), bytes.end(), bytes_.begin() + static_cast<ptrdiff_t>(offset));
  allocate(offset, bytes.size());
}

void MemoryDevice::fill_pattern(uint64_t offset, uint64_t len, uint32_t seed) {
  fill(offset, pattern_bytes(seed, offset, static_cast<size_t>(len)));
}

void MemoryDevice::set_volatile_writes(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  volatile_ = on;
  durable_bytes_ = bytes_;
  durable_allocated_ = allocated_;
}

std::optional<uint64_t> MemoryDevice::durable_mismatch(const std::vector<uint8_t>& want, uint64_t end) const {
  std::lock_guard<std::mutex> lock(mu_);
  const std::vector<uint8_t>& durable = volatile_ ? durable_bytes_ : bytes_;
  const uint64_t common = std::min<uint64_t>({end, durable.size(), want.size()});
  if (std::memcmp(durable.data(), want.data(), static_cast<size_t>(common)) != 0) {
    auto at = std::mismatch(durable.begin(), durable.begin() + static_cast<ptrdiff_t>(common), want.begin());
    return static_cast<uint64_t>(at.first - durable.begin());
  }
  if (common < end) return common;
  return std::nullopt;
}

void MemoryDevice::crash() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!volatile_) return;
  bytes_ = durable_bytes_;
  allocated_ = durable_allocated_;
}

std::vector<uint8_t> MemoryDevice::contents() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

std::vector<DeviceOp> MemoryDevice::ops() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ops_;
}

uint64_t MemoryDevice::allocated_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<uint64_t>(std::count(allocated_.begin(), allocated_.end(), true)) * kPage;
}

int MemoryDevice::reads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reads_;
}

int MemoryDevice::extent_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return extent_calls_;
}

uint64_t MemoryDevice::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_.size();
}

Status MemoryDevice::next_extent(uint64_t offset, uint64_t end, Extent* out) {
  std::lock_guard<std::mutex> lock(mu_);
  ++extent_calls_;
  out->offset = offset;
  out->hole = false;
  out->length = end - offset;
  if (!report_holes_ || kind_ != proto::DeviceKind::kRegularFile) return Status::ok();
  uint64_t page = offset / kPage;
  bool hole = !page_allocated(page);
  uint64_t pos = (page + 1) * kPage;
  while (pos < end && page_allocated(pos / kPage) != hole) pos += kPage;
  out->hole = hole;
  out->length = std::min(pos, end) - offset;
  return Status::ok();
}

Status MemoryDevice::read_at(uint64_t offset, uint8_t* buf, size_t len) {
  std::lock_guard<std::mutex> lock(mu_);
  ++reads_;
  if (fail_read_ != 0 && reads_ == fail_read_) {
    return errno_status(role_, "read error on " + path_ + " at offset " + std::to_string(offset), fail_errno_);
  }
  if (offset + len > bytes_.size()) {
    return Status(role_, path_ + " ended at offset " + std::to_string(bytes_.size()) +
                             " while reading: it shrank during the run");
  }
  std::memcpy(buf, bytes_.data() + offset, len);
  if (shrink_after_ != 0 && reads_ == shrink_after_) {
    // Only the bytes go: the extent map still says data, so the reader finds
    // out by reading (FileDevice's extent map past a new EOF: see
    // device_test's ShrunkFile tests).
    bytes_.resize(shrink_to_);
  }
  return Status::ok();
}

Status MemoryDevice::write_at(uint64_t offset, const uint8_t* buf, size_t len) {
  if (hook_) hook_({DeviceOp::kWrite, offset, len});
  std::lock_guard<std::mutex> lock(mu_);
  ++writes_;
  if (fail_write_ != 0 && writes_ == fail_write_) {
    return errno_status(role_, "write error on " + path_ + " at offset " + std::to_string(offset), fail_errno_);
  }
  if (offset + len > bytes_.size()) {
    if (kind_ != proto::DeviceKind::kRegularFile) {
      return errno_status(role_, "write past the end of " + path_, ENOSPC);
    }
    bytes_.resize(offset + len, 0);
    allocated_.resize((offset + len + kPage - 1) / kPage, false);
  }
  std::memcpy(bytes_.data() + offset, buf, len);
  allocate(offset, len);
  ops_.push_back({DeviceOp::kWrite, offset, len});
  return Status::ok();
}

Status MemoryDevice::zero_range(uint64_t offset, uint64_t length) {
  if (hook_) hook_({DeviceOp::kZero, offset, length});
  std::lock_guard<std::mutex> lock(mu_);
  ++zeros_;
  zeroed_any_ = true;
  if (fail_zero_ != 0 && zeros_ == fail_zero_) {
    return errno_status(role_, "cannot zero " + path_ + " at offset " + std::to_string(offset), fail_errno_);
  }
  uint64_t end = std::min<uint64_t>(offset + length, bytes_.size());
  if (offset < end) std::memset(bytes_.data() + offset, 0, end - offset);
  // Like punch hole: whole pages inside the range are deallocated.
  for (uint64_t p = (offset + kPage - 1) / kPage; (p + 1) * kPage <= end; ++p) allocated_[p] = false;
  if (end == bytes_.size() && end % kPage != 0 && offset <= end / kPage * kPage) {
    allocated_[end / kPage] = false;
  }
  ops_.push_back({DeviceOp::kZero, offset, length});
  return Status::ok();
}

Status MemoryDevice::sync() {
  if (hook_) hook_({DeviceOp::kSync, 0, 0});
  std::lock_guard<std::mutex> lock(mu_);
  ++syncs_;
  if (fail_sync_ != 0 && syncs_ == fail_sync_) {
    return errno_status(role_, "cannot flush " + path_, fail_errno_);
  }
  if (volatile_) {
    durable_bytes_ = bytes_;
    durable_allocated_ = allocated_;
  }
  ops_.push_back({DeviceOp::kSync, 0, 0});
  return Status::ok();
}

Status MemoryDevice::set_size(uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  if (kind_ != proto::DeviceKind::kRegularFile) {
    return Status(ErrorKind::kInternal, "set_size on a block device");
  }
  bytes_.resize(size, 0);
  allocated_.resize((size + kPage - 1) / kPage, false);
  ops_.push_back({DeviceOp::kSetSize, size, 0});
  return Status::ok();
}

proto::ZeroMethod MemoryDevice::zero_method() const {
  std::lock_guard<std::mutex> lock(mu_);
  return zeroed_any_ ? proto::ZeroMethod::kPunchHole : proto::ZeroMethod::kNone;
}

}  // namespace sparsync::testing
