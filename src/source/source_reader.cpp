#include "source/source_reader.h"

#include <algorithm>

#include "common/proto/protocol_constants.h"

namespace sparsync {
namespace {
// In flight between reader and sender: about 4 MiB, whatever the image size.
// Enough to keep reading ahead of the sender (the kernel's readahead does the
// rest); small enough that the recycled buffers stay in the CPU's last-level
// cache, where reads land and the planner finds them (a 16 MiB queue cost a
// third more CPU on a 1 GiB incremental run).
constexpr uint64_t kQueueBytes = 4u << 20;
// One read and, when it is all to be sent, one DATA frame: 1 MiB. 256 KiB
// reads were no faster here and made a dense clone over SSH 10 % slower.
constexpr uint64_t kChunkBytes = proto::kMaxDataPerFrame;
// A listed range shorter than this is read without asking where its holes
// are: on a reflinked XFS file each SEEK_DATA/SEEK_HOLE walks the extent
// map (0.2 ms apiece here, 10 k of them for 1 % of 1 GiB in 4 KiB writes
// took 2 of the run's 3.7 s), while reading a small hole costs a zeroed page.
constexpr uint64_t kMapHolesFrom = 1u << 20;
}  // namespace

uint64_t SourceReader::chunk_bytes(uint32_t block_size) { return std::max<uint64_t>(kChunkBytes, block_size); }

SourceReader::SourceReader(Device& device, const SessionParams& params, uint64_t start_offset,
                           const std::vector<ByteRange>* only)
    : device_(device),
      params_(params),
      start_(start_offset),
      only_(only),
      queue_(std::max<uint64_t>(4, kQueueBytes / chunk_bytes(params.block_size))),
      spare_(std::max<uint64_t>(4, kQueueBytes / chunk_bytes(params.block_size)) + 2) {}

SourceReader::~SourceReader() {
  cancel();
  if (thread_.joinable()) thread_.join();
}

void SourceReader::start() {
  thread_ = std::thread([this] { run(); });
}

void SourceReader::cancel() {
  cancelled_.store(true);
  queue_.close();
}

Status SourceReader::status() {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void SourceReader::run() {
  Status s = read_all();
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = s;
  }
  queue_.close();
}

Status SourceReader::read_all() {
  const uint64_t size = params_.image_size;
  if (only_ == nullptr) return read_span(start_, size, true);
  uint64_t pos = start_;
  for (const ByteRange& r : *only_) {
    const uint64_t end = std::min(size, r.end());
    if (end <= pos) continue;
    const uint64_t from = std::max(pos, r.offset);
    if (from > pos && !queue_.push(SourceChunk{pos, from - pos, false, true, {}})) return Status::ok();
    SPARSYNC_RETURN_IF_ERROR(read_span(from, end, end - from >= kMapHolesFrom));
    if (cancelled_.load()) return Status::ok();
    pos = end;
  }
  if (pos < size) (void)queue_.push(SourceChunk{pos, size - pos, false, true, {}});
  return Status::ok();
}

// Reads [pos, end): `pos` block-aligned, `end` a block boundary or the image
// end; holes found with the device's extent map only when `map_holes`.
Status SourceReader::read_span(uint64_t pos, uint64_t end, bool map_holes) {
  const uint64_t size = end;
  const uint64_t bs = params_.block_size;
  const uint64_t chunk = chunk_bytes(params_.block_size);
  // The extent holding pos, looked up again only once pos leaves it: two
  // lseeks per chunk were a third of a 4 GiB pass's system calls.
  Extent ext;
  if (!map_holes) ext = Extent{pos, size - pos, false};
  while (pos < size && !cancelled_.load()) {
    if (pos >= ext.offset + ext.length) SPARSYNC_RETURN_IF_ERROR(device_.next_extent(pos, size, &ext));
    uint64_t ext_end = ext.offset + ext.length;
    if (ext.hole) {
      // Only whole blocks inside the hole count as hole; a block that is
      // partly data is read (the planner still finds it zero if it is).
      uint64_t hole_end = ext_end == size ? size : ext_end / bs * bs;
      if (hole_end > pos) {
        if (!queue_.push(SourceChunk{pos, hole_end - pos, true, false, {}})) break;
        pos = hole_end;
        continue;
      }
      ext_end = std::min(size, pos + bs);  // partial block: read it
    }
    uint64_t data_end = std::min({size, pos + chunk, (ext_end + bs - 1) / bs * bs});
    SourceChunk c{pos, data_end - pos, false, false, {}};
    if (auto spare = spare_.try_pop()) c.data = std::move(*spare);
    c.data.resize(c.length);
    SPARSYNC_RETURN_IF_ERROR(device_.read_at(pos, c.data.data(), c.length));
    bytes_read_.fetch_add(c.length);
    if (!queue_.push(std::move(c))) break;
    pos = data_end;
  }
  return Status::ok();
}

}  // namespace sparsync
