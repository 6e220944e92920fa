// The undo journal's format and recovery (common/undo_journal.h,
// docs/undo-journal.md): before-images round-trip through a replay; a torn
// tail is cut at every truncation size, a flipped byte ends the journal at
// the record it lies in, and a header of another version is refused.
#include "common/undo_journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "support/fake_device.h"
#include "support/files.h"

namespace sparsync {
namespace {

using testing::MemoryDevice;
using testing::TempDir;

constexpr uint64_t kOldSize = 64 * 1024;
constexpr uint64_t kRecord = 512;

RecordPlace place_in(const TempDir& dir) {
  auto place = record_place_at(dir.file(".img.sparsync-undo"));
  EXPECT_TRUE(place.is_ok()) << place.status().message();
  return place.take();
}

std::unique_ptr<UndoJournal> create_journal(const RecordPlace& place, uint64_t old_size) {
  auto j = UndoJournal::create(place, UndoHeader{0, old_size, 1, "file:1:2"});
  EXPECT_TRUE(j.is_ok()) << j.status().message();
  return j.take();
}

// An old image: pattern bytes with a hole at [16 KiB, 24 KiB) and zeros written at [40 KiB, 44 KiB).
std::unique_ptr<MemoryDevice> old_image() {
  auto dev = std::make_unique<MemoryDevice>(kOldSize, ErrorKind::kTarget);
  dev->fill_pattern(0, 16 * 1024, 7);
  dev->fill_pattern(24 * 1024, kOldSize - 24 * 1024, 8);
  dev->fill(40 * 1024, std::vector<uint8_t>(4096, 0));
  return dev;
}

// Three records of 512 bytes (small, so that every truncation size is quick
// to try): old data at 0, the hole at 16 KiB, the written zeros at 40 KiB.
std::string journal_of_three(const TempDir& dir, MemoryDevice& dev) {
  RecordPlace place = place_in(dir);
  auto j = create_journal(place, kOldSize);
  EXPECT_TRUE(j->preserve(dev, 0, kRecord).is_ok());
  EXPECT_TRUE(j->preserve(dev, 16 * 1024, kRecord).is_ok());
  EXPECT_TRUE(j->preserve(dev, 40 * 1024, kRecord).is_ok());
  EXPECT_TRUE(j->commit().is_ok());
  return place.shown();
}

void overwrite_all(MemoryDevice& dev) {
  ASSERT_TRUE(dev.write_at(0, std::vector<uint8_t>(kOldSize, 0xAB).data(), kOldSize).is_ok());
}

TEST(UndoJournal, ReplayRestoresTheBeforeImages) {
  TempDir dir;
  auto dev = old_image();
  const std::vector<uint8_t> before = dev->contents();
  RecordPlace place = place_in(dir);
  auto j = create_journal(place, kOldSize);
  ASSERT_TRUE(j->preserve(*dev, 0, kOldSize).is_ok());
  ASSERT_TRUE(j->commit().is_ok());
  overwrite_all(*dev);
  UndoReplay replay;
  ASSERT_TRUE(replay_undo_journal(place, *dev, &replay).is_ok());
  EXPECT_EQ(dev->contents(), before);
  EXPECT_EQ(replay.scan.torn_bytes(), 0u);
  // The hole and the written zeros were stored as "was zero", not as bytes.
  EXPECT_EQ(replay.scan.zero_bytes, 8u * 1024 + 4096);
  // Idempotent: a second replay (an interrupted rollback run again) changes nothing.
  ASSERT_TRUE(replay_undo_journal(place, *dev, &replay).is_ok());
  EXPECT_EQ(dev->contents(), before);
}

TEST(UndoJournal, OnlyTheFirstOverwriteOfABlockIsJournaled) {
  TempDir dir;
  auto dev = old_image();
  const std::vector<uint8_t> before = dev->contents();
  RecordPlace place = place_in(dir);
  auto j = create_journal(place, kOldSize);
  ASSERT_TRUE(j->preserve(*dev, 0, 8192).is_ok());
  ASSERT_TRUE(j->commit().is_ok());
  overwrite_all(*dev);
  const uint64_t after_first = j->bytes();
  ASSERT_TRUE(j->preserve(*dev, 4096, 4096).is_ok());
  EXPECT_EQ(j->bytes(), after_first);
  j.reset();
  // A resumed run reopens it: still covered; a partly covered write adds only its new part.
  auto reopened = UndoJournal::open(place);
  ASSERT_TRUE(reopened.is_ok()) << reopened.status().message();
  ASSERT_TRUE(reopened.value()->preserve(*dev, 0, 8192).is_ok());
  EXPECT_EQ(reopened.value()->bytes(), after_first);
  ASSERT_TRUE(reopened.value()->preserve(*dev, 4096, 8192).is_ok());
  EXPECT_GT(reopened.value()->bytes(), after_first);
  ASSERT_TRUE(reopened.value()->commit().is_ok());
  UndoReplay replay;
  ASSERT_TRUE(replay_undo_journal(place, *dev, &replay).is_ok());
  // [0, 8 KiB) is the old image; [8 KiB, 12 KiB) was journaled after the overwrite, so it holds 0xAB.
  std::vector<uint8_t> want = before;
  std::fill(want.begin() + 8192, want.begin() + 12288, 0xAB);
  std::fill(want.begin() + 12288, want.end(), 0xAB);
  EXPECT_EQ(dev->contents(), want);
}

TEST(UndoJournal, GrowthNeedsNoBeforeImageAndIsCutOff) {
  TempDir dir;
  auto dev = old_image();
  const std::vector<uint8_t> before = dev->contents();
  RecordPlace place = place_in(dir);
  auto j = create_journal(place, kOldSize);
  ASSERT_TRUE(dev->set_size(2 * kOldSize).is_ok());
  const uint64_t empty = j->bytes();
  ASSERT_TRUE(j->preserve(*dev, kOldSize, kOldSize).is_ok());
  EXPECT_EQ(j->bytes(), empty);
  ASSERT_TRUE(dev->write_at(kOldSize, std::vector<uint8_t>(4096, 1).data(), 4096).is_ok());
  UndoReplay replay;
  ASSERT_TRUE(replay_undo_journal(place, *dev, &replay).is_ok());
  EXPECT_EQ(dev->contents(), before);
}

TEST(UndoJournal, AShrinkIsUndoneFromItsJournaledTail) {
  TempDir dir;
  auto dev = old_image();
  const std::vector<uint8_t> before = dev->contents();
  RecordPlace place = place_in(dir);
  auto j = create_journal(place, kOldSize);
  ASSERT_TRUE(j->preserve(*dev, kOldSize / 2, kOldSize / 2).is_ok());
  ASSERT_TRUE(j->commit().is_ok());
  ASSERT_TRUE(dev->set_size(kOldSize / 2).is_ok());
  UndoReplay replay;
  ASSERT_TRUE(replay_undo_journal(place, *dev, &replay).is_ok());
  EXPECT_EQ(dev->contents(), before);
}

// ninja's rule: the log recovers at every truncation size.
TEST(UndoJournal, TornTailIsCutAtEveryTruncationSize) {
  TempDir dir;
  auto dev = old_image();
  const std::vector<uint8_t> before = dev->contents();
  const std::string path = journal_of_three(dir, *dev);
  const std::vector<uint8_t> whole = testing::read_all(path);
  // Where each record ends, from reading the whole journal.
  std::vector<uint64_t> ends;
  {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    UndoScan scan;
    uint64_t at = 0;
    ASSERT_TRUE(scan_undo_journal(
                    fd.get(), path,
                    [&](const UndoEntry& e) {
                      at += 24 + (e.zero ? 0 : e.length) + 8;
                      ends.push_back(at);
                      return Status::ok();
                    },
                    &scan)
                    .is_ok());
    ASSERT_EQ(scan.records, 3u);
    for (auto& e : ends) e += scan.header_bytes;
    ASSERT_EQ(ends.back(), whole.size());
  }
  const uint64_t header = ends.front() - (24 + kRecord + 8);
  for (size_t cut = 0; cut <= whole.size(); ++cut) {
    SCOPED_TRACE("journal cut to " + std::to_string(cut) + " bytes");
    testing::write_all(path, std::vector<uint8_t>(whole.begin(), whole.begin() + static_cast<ptrdiff_t>(cut)));
    RecordPlace place = place_in(dir);
    auto j = UndoJournal::open(place);
    if (cut < header) {
      EXPECT_FALSE(j.is_ok());
      continue;
    }
    ASSERT_TRUE(j.is_ok()) << j.status().message();
    const uint64_t whole_records =
        static_cast<uint64_t>(std::upper_bound(ends.begin(), ends.end(), cut) - ends.begin());
    const uint64_t keep = whole_records == 0 ? header : ends[whole_records - 1];
    EXPECT_EQ(j.value()->opened_scan().records, whole_records);
    EXPECT_EQ(j.value()->bytes(), keep);
    EXPECT_EQ(testing::file_size(path), keep);  // the tail is cut off on open
    // The records that survived replay; nothing else is touched.
    MemoryDevice copy(kOldSize, ErrorKind::kTarget);
    ASSERT_TRUE(copy.write_at(0, std::vector<uint8_t>(kOldSize, 0xAB).data(), kOldSize).is_ok());
    UndoReplay replay;
    ASSERT_TRUE(replay_undo_journal(place, copy, &replay).is_ok());
    std::vector<uint8_t> want(kOldSize, 0xAB);
    const uint64_t starts[] = {0, 16 * 1024, 40 * 1024};
    for (uint64_t r = 0; r < whole_records; ++r) {
      std::copy_n(before.begin() + static_cast<ptrdiff_t>(starts[r]), kRecord,
                  want.begin() + static_cast<ptrdiff_t>(starts[r]));
    }
    EXPECT_EQ(copy.contents(), want);
  }
}

TEST(UndoJournal, AFlippedByteEndsTheJournalAtItsRecord) {
  TempDir dir;
  auto dev = old_image();
  const std::string path = journal_of_three(dir, *dev);
  const std::vector<uint8_t> whole = testing::read_all(path);
  UndoScan clean;
  {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(scan_undo_journal(fd.get(), path, {}, &clean).is_ok());
  }
  const uint64_t first_end = clean.header_bytes + 24 + kRecord + 8;
  const uint64_t second_end = first_end + 24 + 8;
  for (size_t at = 0; at < whole.size(); ++at) {
    SCOPED_TRACE("byte " + std::to_string(at) + " flipped");
    std::vector<uint8_t> bad = whole;
    bad[at] ^= 0x40;
    testing::write_all(path, bad);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    UndoScan scan;
    Status s = scan_undo_journal(fd.get(), path, {}, &scan);
    if (at < clean.header_bytes) {
      EXPECT_FALSE(s.is_ok());
      continue;
    }
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(scan.records, at < first_end ? 0u : at < second_end ? 1u : 2u);
  }
}

TEST(UndoJournal, AnotherFormatVersionIsRefused) {
  TempDir dir;
  auto dev = old_image();
  const std::string path = journal_of_three(dir, *dev);
  std::vector<uint8_t> bytes = testing::read_all(path);
  bytes[8] = 2;  // the version follows the 8-byte magic
  testing::write_all(path, bytes);
  auto j = UndoJournal::open(place_in(dir));
  ASSERT_FALSE(j.is_ok());
  EXPECT_NE(j.status().message().find("format version 2, this sparsync reads version 1"), std::string::npos)
      << j.status().message();
}

TEST(UndoJournal, APlantedSymlinkIsNotAJournal) {
  TempDir dir;
  ASSERT_EQ(::symlink("/etc/passwd", dir.file(".img.sparsync-undo").c_str()), 0);
  auto j = UndoJournal::open(place_in(dir));
  ASSERT_FALSE(j.is_ok());
  EXPECT_NE(j.status().message().find("not a regular file"), std::string::npos) << j.status().message();
}

TEST(UndoJournal, NoJournalIsNoError) {
  TempDir dir;
  auto j = UndoJournal::open(place_in(dir));
  ASSERT_TRUE(j.is_ok());
  EXPECT_EQ(j.value(), nullptr);
}

// --max-undo (docs/undo-journal.md "Size cap"): an append that would take
// the journal past its cap is refused whole, with the line the user sees,
// and the journal keeps every record before it, so what it already covers
// still rolls back.
TEST(UndoJournal, AnAppendThatWouldPassTheCapIsRefusedAndNothingOfItIsWritten) {
  TempDir dir;
  auto dev = old_image();
  const std::vector<uint8_t> before = dev->contents();
  RecordPlace place = place_in(dir);
  auto j = create_journal(place, kOldSize);
  const uint64_t cap = j->bytes() + 3 * (4096 + 32);  // room for three 4 KiB data records
  j->set_cap(cap, "/srv/img", "--max-undo 12.1 KiB");
  for (uint64_t at = 0; at < 3 * 4096; at += 4096) ASSERT_TRUE(j->preserve(*dev, at, 4096).is_ok());
  Status s = j->preserve(*dev, 3 * 4096, 4096);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::kTarget);
  EXPECT_NE(s.message().find("undo journal " + place.shown() + " of /srv/img would pass --max-undo 12.1 KiB"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("rerun with --no-undo to sync without a way back, or with a larger --max-undo"),
            std::string::npos)
      << s.message();
  // Filled to the cap, never past it.
  EXPECT_EQ(j->bytes(), cap);
  ASSERT_TRUE(j->commit().is_ok());
  EXPECT_EQ(testing::file_size(place.shown()), cap);
  overwrite_all(*dev);
  UndoReplay replay;
  ASSERT_TRUE(replay_undo_journal(place, *dev, &replay).is_ok());
  EXPECT_EQ(replay.scan.records, 3u);
  const std::vector<uint8_t> now = dev->contents();
  EXPECT_TRUE(std::equal(before.begin(), before.begin() + 3 * 4096, now.begin()));
}

}  // namespace
}  // namespace sparsync
