#include "target/target_session.h"

#include <zstd.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "common/bounded_queue.h"
#include "common/log.h"
#include "common/proto/messages.h"
#include "common/undo_generations.h"
#include "common/units.h"
#include "target/frame_outbox.h"
#include "target/synced_state.h"
#include "target/target_hasher.h"
#include "target/write_behind.h"

namespace sparsync {
namespace {

constexpr size_t kMaxQueuedHashFrames = 64;
// x 1 MiB DATA frames. 6, not 16, since large writes go around the page cache
// (common/direct_writer.h): a 1 GiB dense clone is as fast with 6 (local
// 1.55-2.20 s vs 1.82-3.58 s, over SSH 3.77-4.76 s vs 3.72-5.47 s, alternating),
// and the far side's peak RSS stays at ~15 MiB for an 8 GiB and a 64 GiB sparse
// clone alike (16 filled only with enough data: 15 vs 24 MiB).
constexpr size_t kMaxQueuedWrites = 6;
// With an undo journal, writes are applied in batches of up to this many
// bytes (DATA and HOLE lengths) or writes, each batch behind one journal
// flush. (1 GiB image, 10 % scattered 4 KiB changes: taking only what was
// queued, at most 7 writes, cost 3.2x the run without a journal; these
// bounds, with the journal's appends buffered, see the report in
// docs/undo-journal.md "What it costs".)
constexpr uint64_t kUndoBatchBytes = 8ull << 20;
constexpr size_t kUndoBatchWrites = 1024;
// Journaled batches waiting for the writer thread while the next one is
// journaled: with one, up to three batches' DATA frames are held (one being
// journaled, one waiting, one being written), 24 MiB more than the queue.
// Overlapping the journal's flush with the writes took the 10 % case above
// from 2.5 s to 1.8 s (docs/undo-journal.md "What it costs").
constexpr size_t kUndoBatchesAhead = 1;

class TargetSession {
 public:
  TargetSession(const TargetSessionInput& input, FrameReader& in, FrameWriter& out)
      : input_(input),
        params_(input.params),
        in_(in),
        out_(out),
        outbox_(out, kMaxQueuedHashFrames),
        hasher_(input.device, input.params, input.resume_offset, input.readable_size, input.known_zero, outbox_,
                input.hash_only),
        writes_(kMaxQueuedWrites),
        spare_buffers_(kMaxQueuedWrites + 2),
        write_behind_(input.device),
        durable_offset_(input.resume_offset) {}

  Status run(TargetSessionResult* result) {
    outbox_.start();
    outbox_.push_control(Frame{proto::MsgType::kResume, proto::encode(proto::Resume{input_.resume_offset})});
    if (input_.change_map != nullptr) input_.change_map->reset(params_.image_size);
    if (Progress* p = input_.progress) {
      p->total.store(params_.image_size);
      p->resumed_from.store(input_.resume_offset);
      p->advance_to(input_.resume_offset);
      p->set_phase(Phase::kSyncing);
    }
    std::thread hasher_thread([this] {
      Status s = hasher_.run();
      // Cancelled by us (a stop for a signal, or a failure already
      // recorded) is no failure of its own: taken for one, it would turn a
      // stop into an error and keep the final checkpoint from its record.
      if (!s.is_ok() && !hasher_.cancelled()) fail(s);
    });
    std::thread applier_thread([this] { apply_loop(); });

    proto::Done done;
    Status s = receive_loop(&done);
    if (stopping_) return stop(applier_thread, hasher_thread, result);
    if (!s.is_ok()) fail(s);
    if (!s.is_ok() && s.kind() != ErrorKind::kConnection && !s.from_peer()) drain_input();
    writes_.close();
    applier_thread.join();
    if (!failure().is_ok()) hasher_.cancel();
    hasher_thread.join();
    result->stats.durable_offset = durable_offset_;
    if (failure().is_ok()) finish(done, result);
    if (!failure().is_ok()) refresh_record();
    Status flushed = outbox_.close_and_flush();
    Status first = failure();
    if (!first.is_ok()) return first;
    SPARSYNC_RETURN_IF_ERROR(flushed);
    if (input_.progress != nullptr) input_.progress->advance_to(params_.image_size);
    // The sync is complete: --verify runs to its end, as in a push.
    in_.set_interruptible(false);
    if (params_.verify && input_.device != nullptr) {
      if (input_.progress != nullptr) input_.progress->set_phase(Phase::kVerifying);
      SPARSYNC_RETURN_IF_ERROR(
          exchange_verify(*input_.device, params_.image_size, in_, out_, &result->verify, input_.progress));
      result->verified = true;
    }
    return Status::ok();
  }

 private:
  struct Write {
    proto::MsgType type = proto::MsgType::kData;
    Frame frame;  // owns the DATA bytes
    uint64_t offset = 0;
    uint64_t length = 0;
  };

  Status check_range(const char* what, uint64_t offset, uint64_t length) {
    if (offset > params_.image_size || length > params_.image_size - offset) {
      return Status(ErrorKind::kProtocol, std::string(what) + " range " + std::to_string(offset) + "+" +
                                              std::to_string(length) + " lies past the image end " +
                                              std::to_string(params_.image_size));
    }
    if (params_.dry_run) {
      return Status(ErrorKind::kProtocol, std::string("source sent ") + what + " during a dry run");
    }
    return Status::ok();
  }

  // A checkpoint vouches for everything below it, so it must only move
  // forward, on a block boundary inside the image.
  Status check_checkpoint(uint64_t offset) {
    if (params_.dry_run) return Status(ErrorKind::kProtocol, "source sent CHECKPOINT during a dry run");
    if (offset > params_.image_size || offset < last_checkpoint_ ||
        (offset % params_.block_size != 0 && offset != params_.image_size)) {
      return Status(ErrorKind::kProtocol, "source sent CHECKPOINT at offset " + std::to_string(offset) +
                                              ", not a forward block boundary within the image");
    }
    last_checkpoint_ = offset;
    return Status::ok();
  }

  // A signal reached the reader (a pull's client): ask the source for a final
  // checkpoint if it can give one, and wait for it only so long. Returns
  // false when the run stops now.
  bool ask_source_to_stop() {
    stopping_ = true;
    if (!input_.stop_source) return false;
    outbox_.push_control(Frame{proto::MsgType::kStop, proto::encode(proto::Stop{})});
    stop_sent_ = true;
    in_.set_interruptible(false);
    in_.set_deadline(std::chrono::steady_clock::now() + input_.stop_wait);
    return true;
  }

  Status receive_loop(proto::Done* done) {
    Frame f;
    for (;;) {
      if (!failure().is_ok()) return failure();
      // Reuse a DATA buffer the applier is done with: a fresh 1 MiB buffer per
      // frame costs page faults that showed up at ~8 % of a first clone.
      if (f.payload.capacity() == 0) {
        if (auto spare = spare_buffers_.try_pop()) f.payload = std::move(*spare);
      }
      Status s = in_.read(&f);
      if (s.kind() == ErrorKind::kInterrupted && !stopping_ && ask_source_to_stop()) continue;
      // Stopping: whatever ends the wait for the final checkpoint (the
      // deadline, a broken link, the source's own ERROR) stops at the last one.
      if (stopping_ && (!s.is_ok() || f.type == proto::MsgType::kError)) return Status::ok();
      if (!s.is_ok()) return s.with_context("source");
      Write w{f.type, {}, 0, 0};
      switch (f.type) {
        case proto::MsgType::kData: {
          proto::DataView d;
          SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &d));
          SPARSYNC_RETURN_IF_ERROR(check_range("DATA", d.offset, d.length));
          w.offset = d.offset;
          w.length = d.length;
          break;
        }
        case proto::MsgType::kDataZstd: {
          SPARSYNC_RETURN_IF_ERROR(decompress(f, &w));
          break;
        }
        case proto::MsgType::kHole: {
          proto::Hole h;
          SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &h));
          SPARSYNC_RETURN_IF_ERROR(check_range("HOLE", h.offset, h.length));
          w.offset = h.offset;
          w.length = h.length;
          break;
        }
        case proto::MsgType::kCheckpoint: {
          proto::Checkpoint c;
          SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &c));
          SPARSYNC_RETURN_IF_ERROR(check_checkpoint(c.offset));
          w.offset = c.offset;
          // The answer to STOP: applied by the applier (stop() waits for it); nothing more is read.
          if (stop_sent_) {
            final_checkpoint_ = c.offset;
            w.frame = std::move(f);
            (void)writes_.push(std::move(w));
            return Status::ok();
          }
          break;
        }
        case proto::MsgType::kDone:
          return proto::decode(f.payload, done);
        default:
          return unexpected_frame(f, "DATA, HOLE, CHECKPOINT or DONE");
      }
      w.frame = std::move(f);
      f = Frame{};
      if (!writes_.push(std::move(w))) return failure();
    }
  }

  // DATA_ZSTD becomes an ordinary DATA write: the applier sees offset prefix
  // plus raw bytes, in a buffer of its own (the frame's is reused for reading).
  Status decompress(Frame& f, Write* w) {
    proto::DataZstdView z;
    SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &z));
    SPARSYNC_RETURN_IF_ERROR(check_range("DATA_ZSTD", z.offset, z.raw_length));
    if (dctx_ == nullptr) dctx_.reset(ZSTD_createDCtx());
    ByteBuffer raw;
    if (auto spare = spare_buffers_.try_pop()) raw = std::move(*spare);
    // Laid out as a DATA payload, so the applier treats both alike.
    raw.resize(proto::kDataPrefixBytes + static_cast<size_t>(z.raw_length));
    size_t n = ZSTD_decompressDCtx(dctx_.get(), raw.data() + proto::kDataPrefixBytes, z.raw_length, z.bytes, z.length);
    if (ZSTD_isError(n) || n != z.raw_length) {
      return Status(ErrorKind::kProtocol,
                    "source sent a DATA_ZSTD frame that does not decompress to its "
                    "stated " +
                        std::to_string(z.raw_length) + " bytes");
    }
    w->type = proto::MsgType::kData;
    w->offset = z.offset;
    w->length = z.raw_length;
    // Keep the received frame's buffer for the next read.
    std::swap(f.payload, raw);
    (void)spare_buffers_.try_push(std::move(raw));
    return Status::ok();
  }

  // The end of a run stopped by a signal: what the applier has queued goes to
  // disk, with the final checkpoint if the source sent one (its record and
  // ACK are the point), then the hasher stops and the outbox empties.
  Status stop(std::thread& applier_thread, std::thread& hasher_thread, TargetSessionResult* result) {
    // The applier first: the final checkpoint recorded and its ACK queued
    // before the hasher is told to stop.
    writes_.close();
    applier_thread.join();
    hasher_.cancel();
    hasher_thread.join();
    result->stats.durable_offset = durable_offset_;
    Status applied = failure();
    const bool final_one = final_checkpoint_ && durable_offset_ == *final_checkpoint_;
    // Without a final checkpoint, what was written after the last one moved
    // the target's state away from its record (as on any other failure).
    if (!final_one) refresh_record();
    Status s = applied.is_ok() ? stopped_status(final_one) : applied;
    // A source that was not asked, or did not answer, learns why we go.
    if (applied.is_ok() && !final_one) outbox_.push_urgent(error_frame(s));
    (void)outbox_.close_and_flush();
    return s;
  }

  Status stopped_status(bool final_one) const {
    const std::string size = " of " + format_bytes(params_.image_size);
    if (params_.dry_run) return Status(ErrorKind::kInterrupted, "interrupted; nothing was written (dry run)");
    if (final_one) {
      return Status(ErrorKind::kInterrupted, "interrupted at " + format_bytes(durable_offset_) + size +
                                                 "; the target is checkpointed there: run the same command to resume");
    }
    if (durable_offset_ == 0) return Status(ErrorKind::kInterrupted, "interrupted; run the same command to resume");
    return Status(ErrorKind::kInterrupted, "interrupted; the target is checkpointed at " +
                                               format_bytes(durable_offset_) + size +
                                               " (its last checkpoint): run the same command to resume");
  }

  // After a failure, keep reading (and dropping) what the source sends until
  // it has our ERROR and hangs up. Without this, a source blocked writing
  // DATA would never read the ERROR queued behind our hash frames.
  void drain_input() {
    Frame f;
    while (in_.read(&f).is_ok() && f.type != proto::MsgType::kError) {
    }
  }

  void apply_loop() {
    if (input_.undo != nullptr) {
      journal_then_write();
      return;
    }
    while (auto w = writes_.pop()) {
      Status s = apply_and_recycle(*w);
      if (!s.is_ok()) {
        fail(s);
        return;
      }
    }
  }

  Status apply_and_recycle(Write& w) {
    SPARSYNC_RETURN_IF_ERROR(apply(w));
    if (w.type == proto::MsgType::kData) spare_buffers_.try_push(std::move(w.frame.payload));
    return Status::ok();
  }

  // Writes whose old content is in the journal and durable (or none: a
  // CHECKPOINT alone), then the offset of the CHECKPOINT that ended them, if
  // one did.
  struct Batch {
    std::vector<Write> writes;
    std::optional<uint64_t> checkpoint;
  };

  // The undo journal's ordering rule (docs/undo-journal.md U1) in two
  // stages: this thread gathers a batch, appends the old content under it to
  // the journal and flushes the journal once; a writer thread then issues
  // the batch's writes while this one journals the next batch. So a journal
  // flush no longer stalls the writes, and a batch's writes still never
  // start before its own before-images are durable. The next batch reads
  // old content only where no record covers it yet (U2), so it never reads
  // what the batch being written changes.
  void journal_then_write() {
    BoundedQueue<Batch> journaled(kUndoBatchesAhead);
    std::thread writer([&] {
      while (auto b = journaled.pop()) {
        if (!failure().is_ok()) break;
        Status s = write_batch(*b);
        if (!s.is_ok()) {
          fail(s);
          break;
        }
      }
      // Unblocks this thread if it waits to hand over another batch.
      journaled.close();
    });
    while (auto w = writes_.pop()) {
      Batch b = gather_batch(std::move(*w));
      Status s = journal_batch(b);
      if (!s.is_ok()) {
        fail(s);
        break;
      }
      if (!journaled.push(std::move(b))) break;
    }
    journaled.close();
    writer.join();
  }

  // A batch waits for more writes until it holds kUndoBatchBytes or
  // kUndoBatchWrites, the stream ends (the queue closes), or a CHECKPOINT
  // comes, which is applied after it: nothing is durable before a checkpoint
  // anyway, and scattered 4 KiB changes would otherwise pay one fdatasync
  // for every few blocks.
  Batch gather_batch(Write first) {
    Batch b;
    if (first.type == proto::MsgType::kCheckpoint) {
      b.checkpoint = first.offset;
      return b;
    }
    uint64_t bytes = first.length;
    b.writes.push_back(std::move(first));
    while (bytes < kUndoBatchBytes && b.writes.size() < kUndoBatchWrites) {
      std::optional<Write> next = writes_.pop();
      if (!next) break;
      if (next->type == proto::MsgType::kCheckpoint) {
        b.checkpoint = next->offset;
        break;
      }
      bytes += next->length;
      b.writes.push_back(std::move(*next));
    }
    return b;
  }

  Status journal_batch(const Batch& b) {
    for (const Write& w : b.writes) {
      SPARSYNC_RETURN_IF_ERROR(input_.undo->preserve(*input_.device, w.offset, w.length));
    }
    return input_.undo->commit();
  }

  Status write_batch(Batch& b) {
    for (Write& w : b.writes) SPARSYNC_RETURN_IF_ERROR(apply_and_recycle(w));
    if (b.checkpoint) SPARSYNC_RETURN_IF_ERROR(apply(Write{proto::MsgType::kCheckpoint, {}, *b.checkpoint, 0}));
    return Status::ok();
  }

  Status apply(const Write& w) {
    Device* dev = input_.device;
    switch (w.type) {
      case proto::MsgType::kData:
        SPARSYNC_RETURN_IF_ERROR(dev->write_at(w.offset, w.frame.payload.data() + proto::kDataPrefixBytes, w.length));
        write_behind_.wrote(w.offset, w.length);
        bytes_written_ += w.length;
        if (input_.change_map != nullptr) input_.change_map->mark(w.offset, w.length, ChangeMap::Cell::kData);
        if (Progress* p = input_.progress) {
          p->data_bytes.store(bytes_written_);
          p->advance_to(w.offset + w.length);
        }
        return Status::ok();
      case proto::MsgType::kHole:
        SPARSYNC_RETURN_IF_ERROR(dev->zero_range(w.offset, w.length));
        bytes_zeroed_ += w.length;
        if (input_.change_map != nullptr) input_.change_map->mark(w.offset, w.length, ChangeMap::Cell::kHole);
        if (Progress* p = input_.progress) {
          p->hole_bytes.store(bytes_zeroed_);
          p->advance_to(w.offset + w.length);
        }
        return Status::ok();
      case proto::MsgType::kCheckpoint:
        // After a failure nobody waits for this ACK, and a record written now
        // could land after a retried run has already finished and removed it.
        if (!failure().is_ok()) return Status::ok();
        // Data durable first, then the record, then the ACK (PROTOCOL.md §6).
        SPARSYNC_RETURN_IF_ERROR(dev->sync());
        write_behind_.synced();
        if (input_.record != nullptr) SPARSYNC_RETURN_IF_ERROR(save_record(w.offset));
        durable_offset_ = w.offset;
        if (input_.progress != nullptr) input_.progress->advance_to(w.offset);
        outbox_.push_control(Frame{proto::MsgType::kAck, proto::encode(proto::Ack{w.offset})});
        return Status::ok();
      default:
        return Status(ErrorKind::kInternal, "unexpected write kind");
    }
  }

  void finish(const proto::Done& done, TargetSessionResult* result) {
    if (done.final_size != params_.image_size) {
      fail(Status(ErrorKind::kProtocol, "source finished at size " + std::to_string(done.final_size) + ", expected " +
                                            std::to_string(params_.image_size)));
      return;
    }
    if (!params_.dry_run && (done.data_bytes != bytes_written_ || done.hole_bytes != bytes_zeroed_)) {
      fail(Status(ErrorKind::kProtocol, "source says it sent " + std::to_string(done.data_bytes) + " data and " +
                                            std::to_string(done.hole_bytes) + " hole bytes; " +
                                            std::to_string(bytes_written_) + " and " + std::to_string(bytes_zeroed_) +
                                            " arrived"));
      return;
    }
    if (input_.device != nullptr && !params_.dry_run) {
      Status s = input_.device->sync();
      // A file created by this run must also survive in its directory.
      if (s.is_ok() && input_.sync_directory >= 0) {
        s = fsync_directory(input_.sync_directory, input_.sync_directory_shown);
      }
      // Complete and durable: only now may the incomplete mark go, and then
      // the way back (a journal without a record is a finished run's).
      if (s.is_ok() && input_.record != nullptr) s = remove_checkpoint(*input_.record);
      // Complete: the next run's change list may start from this one. Only
      // a saving for the next run: without the record it compares in full.
      if (s.is_ok() && input_.synced != nullptr && !input_.run_token.empty()) {
        Status saved = save_synced();
        if (!saved.is_ok()) log::info(saved.message() + "; the next run with --changes compares in full");
      }
      if (s.is_ok() && input_.undo != nullptr) {
        undo_bytes_ = input_.undo->bytes();
        s = retire_undo_journal(input_.undo->place(), input_.keep, &generations_kept_);
      }
      if (!s.is_ok()) {
        fail(s);
        return;
      }
    }
    proto::Summary sum;
    sum.bytes_written = bytes_written_;
    sum.bytes_zeroed = bytes_zeroed_;
    sum.blocks_hashed = hasher_.blocks_hashed();
    sum.bytes_hashed = hasher_.bytes_read();
    sum.final_size = params_.image_size;
    sum.zero_method = input_.device ? input_.device->zero_method() : proto::ZeroMethod::kNone;
    sum.has_undo = input_.report_undo;
    sum.undo_bytes = undo_bytes_;
    sum.generations_kept = static_cast<uint16_t>(std::min<uint32_t>(generations_kept_, proto::kMaxKeepGenerations));
    outbox_.push_control(Frame{proto::MsgType::kSummary, proto::encode(sum)});

    SyncStats& st = result->stats;
    st.bytes_scanned = done.bytes_scanned;
    st.bytes_read = done.bytes_read;
    st.data_bytes = done.data_bytes;
    st.hole_bytes = done.hole_bytes;
    st.unchanged_blocks = done.unchanged_blocks;
    st.changed_blocks = done.changed_blocks;
    st.target_bytes_written = sum.bytes_written;
    st.target_bytes_zeroed = sum.bytes_zeroed;
    st.target_bytes_hashed = sum.bytes_hashed;
    st.zero_method = sum.zero_method;
    st.undo_bytes = undo_bytes_;
    st.generations_kept = generations_kept_;
    st.wire_bytes_in = in_.bytes_read();
  }

  Status save_synced() {
    CheckpointRecord rec = input_.checkpoint;
    rec.durable_offset = params_.image_size;
    rec.updated_unix = static_cast<uint64_t>(::time(nullptr));
    rec.target_id = synced_state(*input_.device);
    rec.run_token = input_.run_token;
    return save_checkpoint(*input_.synced, rec);
  }

  // With the data below `offset` durable: the record vouches for it, and
  // binds the target's state as it is now, so a resume can tell whether
  // anything touched the target in between.
  Status save_record(uint64_t offset) {
    CheckpointRecord rec = input_.checkpoint;
    rec.durable_offset = offset;
    rec.updated_unix = static_cast<uint64_t>(::time(nullptr));
    rec.target_id = input_.device->current_identity();
    SPARSYNC_RETURN_IF_ERROR(save_checkpoint(*input_.record, rec));
    return Status::ok();
  }

  // A run that failed but is still here (the link broke, the source stopped
  // or was interrupted): what it wrote above the last checkpoint changed
  // the target's state, so the record is written again, same offset, after
  // a flush, or the next run would take our own writes for someone else's
  // and compare from the start. A failed flush leaves the old record: then
  // the next run does compare from the start.
  void refresh_record() {
    if (input_.record == nullptr || params_.dry_run || input_.device == nullptr) return;
    // Not after a fault of the target itself: its device is suspect, and
    // the old record makes the next run compare from the start.
    Status f = failure();
    if (f.kind() == ErrorKind::kTarget && !f.from_peer()) return;
    if (!input_.device->sync().is_ok()) return;
    (void)save_record(durable_offset_);
  }

  static Frame error_frame(const Status& s) { return Frame{proto::MsgType::kError, encode_error(s)}; }

  // Records the first failure and tells the peer once, through the outbox.
  void fail(const Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_.is_ok()) return;
    failure_ = s;
    // A peer that sent ERROR or vanished needs no ERROR back.
    if (s.kind() != ErrorKind::kConnection && !s.from_peer()) outbox_.push_urgent(error_frame(s));
    writes_.close();
    hasher_.cancel();
  }

  Status failure() {
    std::lock_guard<std::mutex> lock(mu_);
    return failure_;
  }

  const TargetSessionInput& input_;
  const SessionParams params_;
  FrameReader& in_;
  FrameWriter& out_;
  FrameOutbox outbox_;
  TargetHasher hasher_;
  BoundedQueue<Write> writes_;
  BoundedQueue<ByteBuffer> spare_buffers_;
  WriteBehind write_behind_;  // the thread that applies writes only (the writer, with a journal)
  struct DctxFree {
    void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
  };
  std::unique_ptr<ZSTD_DCtx, DctxFree> dctx_;  // receiving thread only
  std::mutex mu_;
  Status failure_;
  uint64_t last_checkpoint_ = 0;  // receiving thread only
  // Stopping for a signal (receiving thread; read by run() after it returns).
  bool stopping_ = false;
  bool stop_sent_ = false;
  std::optional<uint64_t> final_checkpoint_;  // the CHECKPOINT that answered STOP
  uint64_t durable_offset_ = 0;               // applier thread: the last checkpoint recorded (or the resume point)
  uint64_t bytes_written_ = 0;                // applier thread only, read after join
  uint64_t bytes_zeroed_ = 0;
  uint64_t undo_bytes_ = 0;  // the journal's size when the run completed
  uint32_t generations_kept_ = 0;
};

}  // namespace

Status run_target_session(const TargetSessionInput& input, FrameReader& in, FrameWriter& out,
                          TargetSessionResult* result) {
  TargetSession session(input, in, out);
  return session.run(result);
}

}  // namespace sparsync
