// The undo journal: on the target host, the before-images of every block an
// interrupted sync overwrote or zeroed, so that `sparsync --rollback` can
// return the target to exactly its state before that run, without the
// source (format and ordering rule in docs/undo-journal.md, cited from
// proto/PROTOCOL.md §6).
//
// One append-only file beside the target (common/checkpoint_store.h,
// undo_journal_place): a header with a format version, a random nonce, the
// target's size before the run and which file it belongs to, then records
// (offset, length, old bytes or "was zero"), each with an XXH64 checksum
// seeded with the nonce. The writer appends the before-images of a batch of
// pending writes, fdatasyncs the journal (commit) and only then lets the
// writes go, so a record that a write depends on is durable before the
// write can be. A power cut can leave a torn tail: everything from the first
// record that is incomplete or fails its checksum on is ignored, and cut off
// when the journal is opened again.
//
// A block gets a before-image once: the journal remembers which ranges its
// records cover, and a later write there (in this run or a resumed one)
// appends nothing, since the first record already holds the state from
// before the first interrupted run. Bytes at or past the old size need
// none: rollback truncates to the old size.
// Thread-safety: one thread at a time per journal.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/checkpoint_store.h"
#include "common/device.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace sparsync {

struct UndoHeader {
  uint64_t nonce = 0;         // random; seeds every record's checksum
  uint64_t old_size = 0;      // the target's size before the first journaled run
  uint64_t created_unix = 0;  // wall-clock seconds, for --status
  // Which file the journal belongs to, stable across writes:
  // "file:<st_dev>:<st_ino>" or "blockdev:<major>:<minor>" (undo_target_key).
  std::string target_key;
};

// One record as read back. `zero`: the old content was all zeros (no bytes
// stored); else `data` points at `length` old bytes, valid during the call.
struct UndoEntry {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool zero = false;
  const uint8_t* data = nullptr;
};

// The format, as pure functions (docs/undo-journal.md).
inline constexpr uint16_t kUndoFormatVersion = 1;
inline constexpr uint64_t kUndoMaxDataRecord = 1u << 20;  // bytes of old content per record
std::string encode_undo_header(const UndoHeader& header);
std::string encode_undo_record(uint64_t nonce, const UndoEntry& entry);
// The same, appended to `out`.
void append_undo_record(uint64_t nonce, const UndoEntry& entry, std::string* out);

// What reading a journal found.
struct UndoScan {
  UndoHeader header;
  uint64_t header_bytes = 0;
  uint64_t records = 0;
  uint64_t data_bytes = 0;  // old bytes stored
  uint64_t zero_bytes = 0;  // bytes recorded as "was zero"
  uint64_t whole_end = 0;   // end of the last whole record
  uint64_t file_bytes = 0;  // the file's size; past whole_end lies a torn tail
  uint64_t torn_bytes() const { return file_bytes - whole_end; }
};

// Reads the journal open at `fd` from its start: the header (an error, kTarget,
// when it is torn, corrupt or of another format version), then each whole
// record in turn, passed to `each` (may be empty) until the first one that is
// incomplete or fails its checksum.
Status scan_undo_journal(int fd, const std::string& shown, const std::function<Status(const UndoEntry&)>& each,
                         UndoScan* scan);

// The header of the journal at `place` and the file's size and modification
// time, without reading its records (--status, generations). Absent: ok and
// *exists false. Refused like UndoJournal::open refuses (`foreign` set for
// what no sparsync run wrote).
struct UndoFileFacts {
  bool exists = false;
  UndoHeader header;
  uint64_t bytes = 0;
  uint64_t modified_unix = 0;
};
Status read_undo_facts(const RecordPlace& place, UndoFileFacts* facts, bool* foreign = nullptr);

// Reads the journal at `place` through without changing it (no torn tail
// cut): its header and what its records hold. A kept generation was whole
// when its run completed, so any torn tail there is damage, not writes that
// never happened.
Status scan_undo_file(const RecordPlace& place, UndoScan* scan);

// "file:<dev>:<ino>" / "blockdev:<major>:<minor>" of an open file; "" when fstat fails.
std::string undo_target_key(int fd);

class UndoJournal {
 public:
  // A new journal at `place`: header written and durable (temporary created
  // O_EXCL|O_NOFOLLOW in the directory, fsync, renameat into place, fsync of
  // the directory), ready for appending. `header.nonce` is set here.
  static Result<std::unique_ptr<UndoJournal>> create(const RecordPlace& place, UndoHeader header);
  // The journal at `place` if there is one (null and ok if not), read
  // through, its torn tail cut off and flushed, ready for appending. A
  // journal that is not a regular file, is owned by neither root nor this
  // user, or whose header is unreadable is an error (kTarget); `foreign`, if
  // given, then says whether it is one that no sparsync run wrote (not a
  // regular file, or another user's), which a new journal may replace.
  static Result<std::unique_ptr<UndoJournal>> open(const RecordPlace& place, bool* foreign = nullptr);

  const UndoHeader& header() const { return header_; }
  const UndoScan& opened_scan() const { return scan_; }  // as found by open()
  std::string shown() const { return place_.shown(); }
  const RecordPlace& place() const { return place_; }
  uint64_t bytes() const { return end_ + pending_.size(); }
  // How many of its bytes the last commit() made durable (what a power cut
  // now would leave, the torn tail aside). Any thread may ask.
  uint64_t durable_bytes() const { return durable_.load(std::memory_order_acquire); }

  // The journal may not grow past `max_bytes`: an append that would is
  // refused (kTarget) with a line naming the journal, `target`, and `cap`
  // (how the cap was set, e.g. "--max-undo 2.00 GiB"), before anything of
  // it is written, so the writes it was to cover never happen.
  void set_cap(uint64_t max_bytes, std::string target, std::string cap);
  // Appends the before-image of [offset, offset + length) as `device` holds
  // it now: only the parts below the old size that no record covers yet.
  // Not durable until commit().
  Status preserve(Device& device, uint64_t offset, uint64_t length);
  // fdatasync when anything was appended since the last commit.
  Status commit();
  // The run completed: the journal goes (unlinked, directory flushed). The
  // place where kept generations would be made instead.
  Status discard();

 private:
  UndoJournal(RecordPlace place, UniqueFd fd, UndoHeader header, uint64_t end);
  // Records are gathered in memory and written in one go by commit(), or
  // when this many bytes are waiting.
  static constexpr size_t kMaxPendingBytes = 1u << 20;
  Status append(const UndoEntry& entry);
  Status write_pending();
  Status append_runs(uint64_t offset, const uint8_t* data, uint64_t length);
  Status write_failed(const std::string& what, int err) const;
  void cover(uint64_t begin, uint64_t end);

  RecordPlace place_;
  UniqueFd fd_;
  UndoHeader header_;
  UndoScan scan_;
  uint64_t end_ = 0;         // where the next write of pending_ goes
  uint64_t dropped_to_ = 0;  // the journal below this is out of the page cache (commit)
  std::string pending_;      // encoded records not yet written
  bool dirty_ = false;
  uint64_t cap_ = UINT64_MAX;  // set_cap
  std::string cap_target_, cap_shown_;
  std::atomic<uint64_t> durable_{0};
  std::map<uint64_t, uint64_t> covered_;  // begin -> end, merged, disjoint
};

// Removes the journal at `place` if there is one (directory flushed).
Status remove_undo_journal(const RecordPlace& place);

// What a replay did.
struct UndoReplay {
  UndoScan scan;
  uint64_t size_before = 0;  // the target's size when the replay began
};

// Rollback's work: every whole record of the journal at `place` written back
// into `device` (old bytes, or zeroes), the device sized back to the old size
// first (a regular file; a block device must already have it), then synced.
// Idempotent: records never overlap, so an interrupted replay is simply run
// again. The journal itself is left in place.
Status replay_undo_journal(const RecordPlace& place, Device& device, UndoReplay* replay);

}  // namespace sparsync
