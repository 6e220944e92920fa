// MemoryDevice: an in-memory sparsync::Device for session and engine tests.
// It keeps the bytes, which 4 KiB pages were ever allocated (so next_extent
// reports holes like SEEK_DATA/SEEK_HOLE would), records every write, zero,
// sync and resize it performed (nbdcopy-style: compare the op list with the
// expected one), and injects faults: fail the Nth write/zero/read/sync with
// an errno, or shrink after N reads (a source that shrinks mid-run).
// With set_volatile_writes(true) it also models a disk cache: writes and
// zeroes are visible at once but durable only after sync(), and crash()
// drops everything since the last sync (leveldb's fault-injection env).
// An op hook sees every write/zero/sync before it takes effect.
// Thread-safety: every method locks; safe from the engines' threads.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/device.h"

namespace sparsync::testing {

struct DeviceOp {
  enum Kind { kWrite, kZero, kSync, kSetSize } kind;
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const DeviceOp&) const = default;
};
std::string to_string(const DeviceOp& op);

class MemoryDevice : public Device {
 public:
  static constexpr uint64_t kPage = 4096;

  MemoryDevice(uint64_t size, ErrorKind role, proto::DeviceKind kind = proto::DeviceKind::kRegularFile,
               std::string path = "mem");

  // Setup, without recording: fill bytes (allocating their pages).
  void fill(uint64_t offset, const std::vector<uint8_t>& bytes);
  void fill_pattern(uint64_t offset, uint64_t len, uint32_t seed);

  // Faults. `n` counts calls from 1; 0 disables.
  void fail_write_call(int n, int err) {
    fail_write_ = n;
    fail_errno_ = err;
  }
  void fail_zero_call(int n, int err) {
    fail_zero_ = n;
    fail_errno_ = err;
  }
  void fail_read_call(int n, int err) {
    fail_read_ = n;
    fail_errno_ = err;
  }
  void fail_sync_call(int n, int err) {
    fail_sync_ = n;
    fail_errno_ = err;
  }
  // After `reads` successful read_at calls, the device shrinks to new_size.
  void shrink_after_reads(int reads, uint64_t new_size) {
    shrink_after_ = reads;
    shrink_to_ = new_size;
  }
  // When false, next_extent says "all data" (a block device, or no SEEK_HOLE).
  void set_report_holes(bool on) { report_holes_ = on; }

  // Durability model (off by default: every write counts as durable).
  void set_volatile_writes(bool on);
  // The first offset below `end` where what would survive a power cut now
  // (the bytes as of the last sync()) differs from `want` or stops
  // (nullopt: all equal). Compared in place under the lock: the
  // durability tests ask before every device operation, and a copy of the
  // device each time was most of their time under TSan.
  std::optional<uint64_t> durable_mismatch(const std::vector<uint8_t>& want, uint64_t end) const;
  // The power cut: the device reverts to its durable contents.
  void crash();
  // Called (without the device lock held, so it may call contents() and
  // durable_mismatch()) before each write, zero and sync takes effect.
  // Set it before the device is shared with other threads.
  void set_op_hook(std::function<void(const DeviceOp&)> hook) { hook_ = std::move(hook); }

  std::vector<uint8_t> contents() const;
  std::vector<DeviceOp> ops() const;
  uint64_t allocated_bytes() const;  // pages holding data, in bytes
  int reads() const;
  int extent_calls() const;  // next_extent calls

  // Device
  const std::string& path() const override { return path_; }
  proto::DeviceKind kind() const override { return kind_; }
  uint64_t size() const override;
  Status next_extent(uint64_t offset, uint64_t end, Extent* out) override;
  Status read_at(uint64_t offset, uint8_t* buf, size_t len) override;
  Status write_at(uint64_t offset, const uint8_t* buf, size_t len) override;
  Status zero_range(uint64_t offset, uint64_t length) override;
  Status sync() override;
  Status set_size(uint64_t size) override;
  proto::ZeroMethod zero_method() const override;

 private:
  bool page_allocated(uint64_t page) const;
  void allocate(uint64_t offset, uint64_t len);

  mutable std::mutex mu_;
  std::string path_;
  ErrorKind role_;
  proto::DeviceKind kind_;
  std::vector<uint8_t> bytes_;
  std::vector<bool> allocated_;
  std::vector<DeviceOp> ops_;
  bool report_holes_ = true;
  bool zeroed_any_ = false;
  int writes_ = 0, zeros_ = 0, reads_ = 0, syncs_ = 0, extent_calls_ = 0;
  int fail_write_ = 0, fail_zero_ = 0, fail_read_ = 0, fail_sync_ = 0, fail_errno_ = 0;
  int shrink_after_ = 0;
  uint64_t shrink_to_ = 0;
  bool volatile_ = false;
  std::vector<uint8_t> durable_bytes_;
  std::vector<bool> durable_allocated_;
  std::function<void(const DeviceOp&)> hook_;
};

}  // namespace sparsync::testing
