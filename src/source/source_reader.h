// SourceReader: the read stage of the sender pipeline. A thread walks the
// source from a start offset to its end, maps holes with SEEK_DATA/SEEK_HOLE
// (never reading them), reads data in large block-aligned chunks and hands
// them to a bounded queue, so reading overlaps hashing and sending while
// memory stays at queue depth x chunk size. A run confined to a change list
// (PROTOCOL.md §4.19) reads only the listed ranges; the rest goes by as
// skipped chunks, never read.
// Thread-safety: start() once; chunks() is consumed by one other thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "common/bounded_queue.h"
#include "common/byte_buffer.h"
#include "common/change_list.h"
#include "common/device.h"
#include "common/session.h"

namespace sparsync {

struct SourceChunk {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool hole = false;  // true: no data buffer; reads as zeros
  bool skip = false;  // true: no data buffer; outside the change list, not read
  ByteBuffer data;    // length bytes when !hole
};

class SourceReader {
 public:
  // `only`: the ranges to read, block-aligned, sorted and apart (null: all);
  // it must outlive the reader.
  SourceReader(Device& device, const SessionParams& params, uint64_t start_offset,
               const std::vector<ByteRange>* only = nullptr);
  ~SourceReader();
  SourceReader(const SourceReader&) = delete;
  SourceReader& operator=(const SourceReader&) = delete;

  void start();
  // Yields chunks in order; nullopt at the end or after an error (see status).
  std::optional<SourceChunk> next() { return queue_.pop(); }
  // Gives a chunk's buffer back once its bytes are sent: reading into a
  // buffer whose pages are already mapped (and warm) costs a third of what
  // reading into a fresh allocation does.
  void recycle(ByteBuffer&& buffer) { (void)spare_.try_push(std::move(buffer)); }
  // Stops the thread early (the consumer failed).
  void cancel();
  // Valid after next() returned nullopt.
  Status status();
  uint64_t bytes_read() const { return bytes_read_.load(); }

  static uint64_t chunk_bytes(uint32_t block_size);

 private:
  void run();
  Status read_all();
  Status read_span(uint64_t pos, uint64_t end, bool map_holes);

  Device& device_;
  SessionParams params_;
  uint64_t start_;
  const std::vector<ByteRange>* only_;
  BoundedQueue<SourceChunk> queue_;
  BoundedQueue<ByteBuffer> spare_;
  std::thread thread_;
  std::mutex mu_;
  Status status_;
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<bool> cancelled_{false};
};

}  // namespace sparsync
