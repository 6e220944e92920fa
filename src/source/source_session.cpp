#include "source/source_session.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "common/interrupt.h"
#include "common/proto/change_messages.h"
#include "common/proto/messages.h"
#include "common/rate_limiter.h"
#include "common/units.h"
#include "source/data_compressor.h"
#include "source/planner.h"
#include "source/source_reader.h"
#include "source/stored_digests.h"
#include "source/target_reports.h"

namespace sparsync {
namespace {

// Digests buffered between receiver and sender: 8 MiB covers 2 GiB of image
// at 4 KiB blocks, far more than the reader keeps in flight.
constexpr size_t kMaxBufferedDigests = 8u << 20;
// After a signal and the final checkpoint's ACK (or its 30 s), how long the
// target may take to close its stream.
constexpr std::chrono::seconds kLastWordsWait{5};

// Receives everything the target sends during the sync phase.
class Receiver {
 public:
  Receiver(FrameReader& in, const SessionParams& params, TargetReports& reports, bool stop_requests, bool skips_allowed,
           StoredDigests* stored)
      : in_(in),
        params_(params),
        reports_(reports),
        stop_requests_(stop_requests),
        skips_allowed_(skips_allowed),
        stored_(stored) {}

  void run() {
    Status s = loop();
    std::lock_guard<std::mutex> lock(mu_);
    if (!s.is_ok()) {
      if (status_.is_ok()) status_ = s;
      reports_.fail(s);
    }
    ended_ = true;
    cv_.notify_all();
  }

  // Waits for SUMMARY (or a failure) after DONE was sent.
  Status wait_summary(proto::Summary* summary) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return ended_; });
    if (!status_.is_ok()) return status_;
    *summary = summary_;
    return Status::ok();
  }

  // Waits up to `seconds` for the ACK of a checkpoint at `offset`.
  bool wait_ack(uint64_t offset, double seconds) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                        [&] { return ended_ || (acks_ > 0 && last_ack_ >= offset); }) &&
           acks_ > 0 && last_ack_ >= offset;
  }

  uint64_t acks() {
    std::lock_guard<std::mutex> lock(mu_);
    return acks_;
  }
  uint64_t last_ack() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_ack_;
  }
  // The target sent STOP: stop as on a signal.
  bool stop_requested() const { return stop_requested_.load(); }

 private:
  Status loop() {
    const size_t digest_len = proto::hash_length(params_.hash_kind);
    Frame f;
    for (;;) {
      Status s = in_.read(&f);
      if (!s.is_ok()) return s.with_context("target");
      switch (f.type) {
        case proto::MsgType::kHash: {
          proto::Hash h;
          SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, digest_len, &h));
          SPARSYNC_RETURN_IF_ERROR(
              reports_.add_run(TargetRun{h.first_block, h.count, false, false, std::move(h.digests)}));
          break;
        }
        case proto::MsgType::kHashZero: {
          proto::HashZero z;
          SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &z));
          SPARSYNC_RETURN_IF_ERROR(reports_.add_run(TargetRun{z.first_block, z.count, true, false, {}}));
          break;
        }
        case proto::MsgType::kHashSkip: {
          if (!skips_allowed_) return unexpected_frame(f, "HASH, HASH_ZERO, HASH_END, ACK or SUMMARY");
          proto::HashSkip k;
          SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &k));
          // With stored digests, what the target left unread is what the
          // last completed run left there (the target proved it untouched).
          if (stored_ != nullptr) {
            SPARSYNC_RETURN_IF_ERROR(
                stored_->runs(k.first_block, k.count, [&](TargetRun&& r) { return reports_.add_run(std::move(r)); }));
          } else {
            SPARSYNC_RETURN_IF_ERROR(reports_.add_run(TargetRun{k.first_block, k.count, false, true, {}}));
          }
          break;
        }
        case proto::MsgType::kHashEnd: {
          proto::HashEnd e;
          SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &e));
          SPARSYNC_RETURN_IF_ERROR(reports_.finish(e.total_blocks));
          break;
        }
        case proto::MsgType::kAck: {
          proto::Ack a;
          SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &a));
          std::lock_guard<std::mutex> lock(mu_);
          ++acks_;
          last_ack_ = a.offset;
          cv_.notify_all();
          break;
        }
        case proto::MsgType::kStop: {
          if (!stop_requests_) return unexpected_frame(f, "HASH, HASH_ZERO, HASH_END, ACK or SUMMARY");
          proto::Stop stop;
          SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &stop));
          stop_requested_.store(true);
          break;
        }
        case proto::MsgType::kSummary: {
          proto::Summary sum;
          SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &sum));
          // SUMMARY answers DONE, which follows HASH_END; earlier it would
          // leave the sender waiting for reports that never come.
          if (!reports_.finished()) {
            return Status(ErrorKind::kProtocol, "target sent SUMMARY before HASH_END");
          }
          std::lock_guard<std::mutex> lock(mu_);
          summary_ = sum;
          return Status::ok();
        }
        default:
          return unexpected_frame(f, "HASH, HASH_ZERO, HASH_END, ACK or SUMMARY");
      }
    }
  }

  FrameReader& in_;
  const SessionParams& params_;
  TargetReports& reports_;
  const bool stop_requests_;
  const bool skips_allowed_;
  StoredDigests* stored_;
  std::atomic<bool> stop_requested_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool ended_ = false;
  Status status_;
  proto::Summary summary_;
  uint64_t acks_ = 0;
  uint64_t last_ack_ = 0;
};

// Turns planned operations into frames, merging HOLE ranges across chunks,
// compressing DATA when asked (and only when it pays) and pacing it when
// --bwlimit is set.
class Emitter {
 public:
  Emitter(FrameWriter& out, bool dry_run, SyncStats& stats, ChangeMap* map, uint64_t bwlimit, int compress_level)
      : out_(out), dry_run_(dry_run), stats_(stats), map_(map), limiter_(bwlimit), compressor_(compress_level) {}

  Status emit(const SourceChunk& chunk, const std::vector<PlanOp>& ops) {
    const uint64_t frame_max = limiter_.enabled() ? std::min<uint64_t>(proto::kMaxDataPerFrame, limiter_.max_burst())
                                                  : proto::kMaxDataPerFrame;
    for (const PlanOp& op : ops) {
      if (map_ != nullptr) {
        map_->mark(op.offset, op.length, op.kind == OpKind::kHole ? ChangeMap::Cell::kHole : ChangeMap::Cell::kData);
      }
      if (op.kind == OpKind::kHole) {
        if (hole_len_ > 0 && hole_off_ + hole_len_ == op.offset) {
          hole_len_ += op.length;
        } else {
          SPARSYNC_RETURN_IF_ERROR(flush_hole());
          hole_off_ = op.offset;
          hole_len_ = op.length;
        }
        continue;
      }
      SPARSYNC_RETURN_IF_ERROR(flush_hole());
      stats_.data_bytes += op.length;
      if (dry_run_) continue;
      for (uint64_t done = 0; done < op.length;) {
        auto n = static_cast<uint32_t>(std::min<uint64_t>(op.length - done, frame_max));
        const uint8_t* p = chunk.data.data() + (op.offset - chunk.offset) + done;
        SPARSYNC_RETURN_IF_ERROR(send_data(op.offset + done, p, n).with_context("sending to target"));
        done += n;
      }
    }
    return Status::ok();
  }

  Status flush_hole() {
    if (hole_len_ == 0) return Status::ok();
    stats_.hole_bytes += hole_len_;
    proto::Hole h{hole_off_, hole_len_};
    hole_len_ = 0;
    if (dry_run_) return Status::ok();
    return out_.write(proto::MsgType::kHole, proto::encode(h)).with_context("sending to target");
  }

 private:
  Status send_data(uint64_t offset, const uint8_t* p, uint32_t n) {
    if (compressor_.enabled()) {
      const std::vector<uint8_t>* frame = compressor_.compress(offset, p, n);
      if (frame != nullptr) {
        limiter_.acquire(frame->size());
        return out_.write(proto::MsgType::kDataZstd, *frame);
      }
    }
    limiter_.acquire(n);
    return out_.write_data(offset, p, n);
  }

  FrameWriter& out_;
  bool dry_run_;
  SyncStats& stats_;
  ChangeMap* map_;
  RateLimiter limiter_;
  DataCompressor compressor_;
  uint64_t hole_off_ = 0;
  uint64_t hole_len_ = 0;
};

// Plans one chunk against the target's runs, piece by piece. kInterrupted
// when `stop` holds while it waits for the target's reports.
// With stored digests (`skips_vouched`), a chunk the reader skipped is one
// a pre-scan found equal to them, whatever stands in for the target there.
Status plan_chunk(const SessionParams& params, const SourceChunk& chunk, TargetReports& reports,
                  const std::function<bool()>& stop, bool skips_vouched, std::vector<PlanOp>* ops, PlanCounts* counts) {
  const size_t digest_len = proto::hash_length(params.hash_kind);
  uint64_t pos = chunk.offset;
  const uint64_t end = chunk.offset + chunk.length;
  while (pos < end) {
    uint64_t block = pos / params.block_size;
    const TargetRun* run = nullptr;
    SPARSYNC_RETURN_IF_ERROR(reports.wait_for(block, &run, stop));
    uint64_t run_end = std::min(end, params.block_offset(run->first_block + run->count));
    // Left out of the change list on both sides: unchanged, read by neither.
    if (run->skip || chunk.skip) {
      if (run->skip != chunk.skip && !(chunk.skip && skips_vouched)) {
        return Status(ErrorKind::kProtocol, std::string("target ") + (run->skip ? "skipped" : "hashed") + " block " +
                                                std::to_string(block) + ", which the change list " +
                                                (run->skip ? "holds" : "leaves out"));
      }
      counts->unchanged_blocks += (run_end - pos + params.block_size - 1) / params.block_size;
      pos = run_end;
      reports.consume_before(pos / params.block_size);
      continue;
    }
    SourcePiece sp{pos, run_end - pos, chunk.hole ? nullptr : chunk.data.data() + (pos - chunk.offset)};
    TargetPiece tp{run->zero, run->zero ? nullptr : run->digests.data() + (block - run->first_block) * digest_len};
    plan_piece(params, sp, tp, ops, counts);
    pos = run_end;
    reports.consume_before(pos / params.block_size);
  }
  return Status::ok();
}

// Decides when the next CHECKPOINT is due.
class CheckpointClock {
 public:
  explicit CheckpointClock(const SourceSessionOptions& o) : options_(o) { reset(0); }
  void reset(uint64_t offset) {
    last_offset_ = offset;
    last_time_ = std::chrono::steady_clock::now();
  }
  bool due(uint64_t offset) const {
    return offset - last_offset_ >= options_.checkpoint_bytes ||
           std::chrono::duration<double>(std::chrono::steady_clock::now() - last_time_).count() >=
               options_.checkpoint_seconds;
  }

 private:
  const SourceSessionOptions& options_;
  uint64_t last_offset_ = 0;
  std::chrono::steady_clock::time_point last_time_;
};

Status send_checkpoint(Emitter& emitter, FrameWriter& out, uint64_t offset) {
  SPARSYNC_RETURN_IF_ERROR(emitter.flush_hole());
  return out.write(proto::MsgType::kCheckpoint, proto::encode(proto::Checkpoint{offset}))
      .with_context("sending to target");
}

// A signal or the target's STOP: a final checkpoint of everything sent (the
// range below `done_to`), and its ACK awaited for a while (PROTOCOL.md §6 D4).
Status stop_with_checkpoint(Emitter& emitter, FrameWriter& out, Receiver& receiver, TargetReports& reports,
                            const SessionParams& params, const SourceSessionOptions& options, uint64_t done_to) {
  const char* why = interrupted() ? "interrupted" : "stopped at the target's request";
  // Nothing is planned any more: the receiver reads on to the ACK.
  reports.drain();
  if (!params.dry_run && options.checkpoints) {
    SPARSYNC_RETURN_IF_ERROR(send_checkpoint(emitter, out, done_to));
    if (receiver.wait_ack(done_to, 30)) {
      return Status(ErrorKind::kInterrupted, std::string(why) + " at " + format_bytes(done_to) + " of " +
                                                 format_bytes(params.image_size) +
                                                 "; the target is checkpointed there: run the same command to resume");
    }
  }
  return Status(ErrorKind::kInterrupted, std::string(why) + "; run the same command to resume");
}

// Plans and sends everything from the resume point on. Returns kInterrupted
// after a final checkpoint when a signal arrived or the target sent STOP.
Status send_all(SourceReader& reader, const SessionParams& params, const SourceSessionOptions& options, uint64_t start,
                TargetReports& reports, Receiver& receiver, FrameWriter& out, SyncStats& stats) {
  Emitter emitter(out, params.dry_run, stats, options.change_map, options.bwlimit, options.compress_level);
  // Small DATA and HOLE frames go out in batches (FrameWriter says why);
  // not under --bwlimit, whose pacing is per frame. Nothing the target
  // answers is batched, so no wait below can hold frames back from it.
  if (options.bwlimit == 0) SPARSYNC_RETURN_IF_ERROR(out.set_coalescing(true));
  if (options.change_map != nullptr) options.change_map->reset(params.image_size);
  CheckpointClock clock(options);
  clock.reset(start);
  std::vector<PlanOp> ops;
  PlanCounts counts;
  const std::function<bool()> stop = [&receiver] { return interrupted() || receiver.stop_requested(); };
  uint64_t done_to = start;
  while (auto chunk = reader.next()) {
    ops.clear();
    if (options.record_digests != nullptr && !chunk->skip) {
      SPARSYNC_RETURN_IF_ERROR(
          options.record_digests->add(chunk->offset, chunk->length, chunk->hole ? nullptr : chunk->data.data()));
    }
    if (options.fingerprint != nullptr && !chunk->skip) {
      options.fingerprint->add(params, chunk->offset, chunk->length, chunk->hole ? nullptr : chunk->data.data());
    }
    if (chunk->hole && options.change_map != nullptr) {
      options.change_map->mark(chunk->offset, chunk->length, ChangeMap::Cell::kZero);
    }
    Status planned = plan_chunk(params, *chunk, reports, stop, options.stored != nullptr, &ops, &counts);
    // Nothing of this chunk went out yet: the checkpoint is where the last one ended.
    if (planned.kind() == ErrorKind::kInterrupted) {
      return stop_with_checkpoint(emitter, out, receiver, reports, params, options, done_to);
    }
    SPARSYNC_RETURN_IF_ERROR(planned);
    SPARSYNC_RETURN_IF_ERROR(emitter.emit(*chunk, ops));
    if (!chunk->hole && !chunk->skip) reader.recycle(std::move(chunk->data));
    stats.bytes_scanned += chunk->length;
    done_to = chunk->offset + chunk->length;
    if (options.progress != nullptr) {
      options.progress->data_bytes.store(stats.data_bytes);
      options.progress->hole_bytes.store(stats.hole_bytes);
      options.progress->advance_to(done_to);
    }
    if (stop()) return stop_with_checkpoint(emitter, out, receiver, reports, params, options, done_to);
    if (!params.dry_run && options.checkpoints && done_to < params.image_size && clock.due(done_to)) {
      SPARSYNC_RETURN_IF_ERROR(send_checkpoint(emitter, out, done_to));
      clock.reset(done_to);
    }
  }
  SPARSYNC_RETURN_IF_ERROR(reader.status());
  SPARSYNC_RETURN_IF_ERROR(emitter.flush_hole());
  SPARSYNC_RETURN_IF_ERROR(out.set_coalescing(false).with_context("sending to target"));
  stats.unchanged_blocks = counts.unchanged_blocks;
  stats.changed_blocks = counts.changed_blocks;
  return Status::ok();
}

// The target opens the sync phase by saying where it resumes.
Status read_resume(FrameReader& in, const SessionParams& params, uint64_t* offset) {
  Frame f;
  SPARSYNC_RETURN_IF_ERROR(in.read(&f).with_context("target"));
  if (f.type != proto::MsgType::kResume) return unexpected_frame(f, "RESUME");
  proto::Resume r;
  SPARSYNC_RETURN_IF_ERROR(proto::decode(f.payload, &r));
  if (r.offset > params.image_size || (r.offset % params.block_size != 0 && r.offset != params.image_size)) {
    return Status(ErrorKind::kProtocol, "target asked to resume at offset " + std::to_string(r.offset) +
                                            ", which is not a block boundary within the image");
  }
  *offset = r.offset;
  return Status::ok();
}

}  // namespace

Status run_source_session(Device& source, const SessionParams& params, const SourceSessionOptions& options,
                          FrameReader& in, FrameWriter& out, SourceSessionResult* result) {
  SyncStats& stats = result->stats;
  uint64_t start = 0;
  Status resumed = read_resume(in, params, &start);
  if (!resumed.is_ok()) {
    // A bad RESUME is ours to explain (PROTOCOL.md §5); a broken link or the
    // target's own ERROR needs no answer.
    if (resumed.kind() != ErrorKind::kConnection && !resumed.from_peer()) {
      (void)out.write(proto::MsgType::kError, encode_error(resumed));
    }
    return resumed;
  }
  stats.resumed_from = start;
  if (options.progress != nullptr) {
    options.progress->total.store(params.image_size);
    options.progress->resumed_from.store(start);
    options.progress->advance_to(start);
    options.progress->set_phase(Phase::kSyncing);
  }
  TargetReports reports((start + params.block_size - 1) / params.block_size, params.total_blocks(),
                        proto::hash_length(params.hash_kind), kMaxBufferedDigests);
  const bool confined = options.read_only != nullptr || options.stored != nullptr;
  Receiver receiver(in, params, reports, options.stop_requests, confined, options.stored);
  std::thread receiver_thread([&] { receiver.run(); });
  SourceReader reader(source, params, start, options.read_only);
  reader.start();

  Status s = send_all(reader, params, options, start, reports, receiver, out, stats);
  if (s.is_ok()) s = reports.wait_finished();
  // A source written during the run may have given us a mix of old and new
  // blocks: ERROR instead of DONE keeps the target's record (incomplete),
  // and the moved ctime makes the next run compare from the start.
  if (s.is_ok()) s = source.check_unchanged();
  // Stored digests stood in for the target: a file damaged on disk must
  // fail the run before DONE, leaving the target resumable.
  if (s.is_ok() && options.stored != nullptr) s = options.stored->finish();
  if (s.is_ok() && options.record_digests != nullptr) s = options.record_digests->finish();
  if (s.is_ok()) {
    stats.bytes_read = reader.bytes_read();
    proto::Done done{params.image_size, stats.bytes_scanned,    stats.bytes_read,    stats.data_bytes,
                     stats.hole_bytes,  stats.unchanged_blocks, stats.changed_blocks};
    s = out.write(proto::MsgType::kDone, proto::encode(done)).with_context("sending to target");
  }
  proto::Summary summary;
  if (s.is_ok()) {
    if (options.progress != nullptr) options.progress->set_phase(Phase::kFlushing);
    s = receiver.wait_summary(&summary);
  } else {
    reader.cancel();
    reports.fail(s);
    // Tell the target why we stop, so it exits instead of waiting for frames;
    // if it is already gone this write fails and that is fine.
    if (!s.from_peer()) (void)out.write(proto::MsgType::kError, encode_error(s));
    // Stopped by a signal: the target's last words are not worth more than a
    // moment (it may be the reason we stopped, silent).
    if (s.kind() == ErrorKind::kInterrupted) in.set_deadline(std::chrono::steady_clock::now() + kLastWordsWait);
    // The target may have said why it stopped; its reason beats our EPIPE.
    Status remote = receiver.wait_summary(&summary);
    if (!remote.is_ok() && s.kind() == ErrorKind::kConnection && remote.kind() != ErrorKind::kConnection) {
      s = remote;
    }
  }
  receiver_thread.join();
  stats.checkpoints = receiver.acks();
  stats.durable_offset = std::max(start, receiver.last_ack());
  if (!s.is_ok()) return s;
  stats.target_bytes_written = summary.bytes_written;
  stats.target_bytes_zeroed = summary.bytes_zeroed;
  stats.target_bytes_hashed = summary.bytes_hashed;
  stats.zero_method = summary.zero_method;
  stats.undo_bytes = summary.undo_bytes;
  stats.generations_kept = summary.generations_kept;
  if (summary.final_size != params.image_size) {
    return Status(ErrorKind::kTarget, "target reports size " + std::to_string(summary.final_size) +
                                          " after the sync, expected " + std::to_string(params.image_size));
  }
  if (!params.dry_run && (summary.bytes_written != stats.data_bytes || summary.bytes_zeroed != stats.hole_bytes)) {
    return Status(ErrorKind::kProtocol, "target applied " + std::to_string(summary.bytes_written) + " data bytes and " +
                                            std::to_string(summary.bytes_zeroed) + " hole bytes, but " +
                                            std::to_string(stats.data_bytes) + " and " +
                                            std::to_string(stats.hole_bytes) + " were sent");
  }
  if (params.verify) {
    if (options.progress != nullptr) options.progress->set_phase(Phase::kVerifying);
    SPARSYNC_RETURN_IF_ERROR(exchange_verify(source, params.image_size, in, out, &result->verify, options.progress));
    result->verified = true;
  }
  stats.wire_bytes_in = in.bytes_read();
  stats.wire_bytes_out = out.bytes_written();
  return Status::ok();
}

}  // namespace sparsync
