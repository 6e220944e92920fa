// The checkpoint record (src/common/checkpoint_store): its encoding survives
// a round trip; every torn length and every corrupted byte is rejected (a
// torn or corrupt record must never become a resume point); save replaces the
// file atomically. The e2e half (a corrupt record beside a real target) is in
// tests/e2e/resume_test.cpp.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/checkpoint_store.h"
#include "support/files.h"

namespace sparsync {
namespace {

using testing::TempDir;

CheckpointRecord sample() {
  CheckpointRecord r;
  r.source_id = "f:2049:131:170000000:123456789";
  r.source_size = 256ull << 20;
  r.block_size = 65536;
  r.hash_kind = proto::HashKind::kSha256;
  r.durable_offset = 96ull << 20;
  r.updated_unix = 1700000000;
  return r;
}

void expect_same(const CheckpointRecord& a, const CheckpointRecord& b) {
  EXPECT_EQ(a.source_id, b.source_id);
  EXPECT_EQ(a.source_size, b.source_size);
  EXPECT_EQ(a.block_size, b.block_size);
  EXPECT_EQ(a.hash_kind, b.hash_kind);
  EXPECT_EQ(a.durable_offset, b.durable_offset);
  EXPECT_EQ(a.updated_unix, b.updated_unix);
}

TEST(Checkpoint, RoundTrip) {
  for (auto kind : {proto::HashKind::kXxh3_128, proto::HashKind::kSha256}) {
    CheckpointRecord r = sample();
    r.hash_kind = kind;
    auto back = decode_checkpoint(encode_checkpoint(r));
    ASSERT_TRUE(back.has_value());
    expect_same(*back, r);
  }
  // Edges: empty identity is encodable (it then never matches a source, see
  // target_open), an offset equal to the size, a zero offset.
  CheckpointRecord r = sample();
  r.source_id.clear();
  r.durable_offset = r.source_size;
  auto back = decode_checkpoint(encode_checkpoint(r));
  ASSERT_TRUE(back.has_value());
  expect_same(*back, r);
  r.durable_offset = 0;
  back = decode_checkpoint(encode_checkpoint(r));
  ASSERT_TRUE(back.has_value());
  expect_same(*back, r);
}

TEST(Checkpoint, EveryTruncationIsRejected) {
  const std::string bytes = encode_checkpoint(sample());
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_EQ(decode_checkpoint(bytes.substr(0, len)), std::nullopt) << "torn at " << len;
  }
  // A torn write can also leave trailing garbage after a whole record.
  EXPECT_EQ(decode_checkpoint(bytes + '\0'), std::nullopt);
  EXPECT_EQ(decode_checkpoint(bytes + bytes), std::nullopt);
}

TEST(Checkpoint, EveryCorruptByteIsRejected) {
  const std::string bytes = encode_checkpoint(sample());
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      EXPECT_EQ(decode_checkpoint(bad), std::nullopt) << "byte " << i << " ^ " << int(mask);
    }
  }
}

TEST(Checkpoint, AllZerosAndGarbageAreRejected) {
  // What a crash can leave in a file that was being extended: zeros.
  EXPECT_EQ(decode_checkpoint(std::string(encode_checkpoint(sample()).size(), '\0')), std::nullopt);
  EXPECT_EQ(decode_checkpoint(std::string(100000, 'x')), std::nullopt);
}

TEST(Checkpoint, ALieAboutTheOffsetIsRejectedEvenWithAValidChecksum) {
  // durable_offset past the source size cannot be true, whatever the checksum.
  CheckpointRecord r = sample();
  r.durable_offset = r.source_size + 4096;
  EXPECT_EQ(decode_checkpoint(encode_checkpoint(r)), std::nullopt);
}

TEST(Checkpoint, LoadOfAMissingFileIsNoRecordAndNotCorrupt) {
  TempDir dir;
  std::optional<CheckpointRecord> rec = sample();
  bool corrupt = true;
  Status s = load_checkpoint(dir.file(".x.sparsync-checkpoint"), &rec, &corrupt);
  ASSERT_TRUE(s.is_ok()) << s.message();
  EXPECT_FALSE(rec.has_value());
  EXPECT_FALSE(corrupt);
}

TEST(Checkpoint, LoadOfACorruptFileSaysCorrupt) {
  TempDir dir;
  std::string path = dir.file(".x.sparsync-checkpoint");
  std::string bytes = encode_checkpoint(sample());
  bytes.resize(bytes.size() / 2);
  testing::write_all(path, std::vector<uint8_t>(bytes.begin(), bytes.end()));
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  ASSERT_TRUE(load_checkpoint(path, &rec, &corrupt).is_ok());
  EXPECT_FALSE(rec.has_value());
  EXPECT_TRUE(corrupt);
  // An empty file (created, never written) is corrupt too, not "no record".
  testing::write_all(path, {});
  ASSERT_TRUE(load_checkpoint(path, &rec, &corrupt).is_ok());
  EXPECT_FALSE(rec.has_value());
  EXPECT_TRUE(corrupt);
}

TEST(Checkpoint, SaveReplacesAtomicallyAndLeavesNoTemporary) {
  TempDir dir;
  std::string path = checkpoint_path(dir.file("disk.img"), false);
  EXPECT_EQ(path, dir.file(".disk.img.sparsync-checkpoint"));
  CheckpointRecord r = sample();
  ASSERT_TRUE(save_checkpoint(path, r).is_ok());
  struct stat first {};
  ASSERT_EQ(::stat(path.c_str(), &first), 0);
  EXPECT_EQ(first.st_mode & 0777, 0600u);

  r.durable_offset += 8 << 20;
  ASSERT_TRUE(save_checkpoint(path, r).is_ok());
  struct stat second {};
  ASSERT_EQ(::stat(path.c_str(), &second), 0);
  // Replaced by rename (a new inode), never rewritten in place, where a crash
  // could leave a torn record.
  EXPECT_NE(first.st_ino, second.st_ino);
  EXPECT_EQ(testing::directory_entries(dir.path()), std::vector<std::string>{".disk.img.sparsync-checkpoint"});

  std::optional<CheckpointRecord> rec;
  bool corrupt = true;
  ASSERT_TRUE(load_checkpoint(path, &rec, &corrupt).is_ok());
  ASSERT_TRUE(rec.has_value());
  EXPECT_FALSE(corrupt);
  expect_same(*rec, r);

  ASSERT_TRUE(remove_checkpoint(path).is_ok());
  EXPECT_TRUE(testing::directory_entries(dir.path()).empty());
  EXPECT_TRUE(remove_checkpoint(path).is_ok()) << "removing a missing record is not an error";
}

TEST(Checkpoint, SaveNeverWritesThroughANamePlantedBesideIt) {
  // Another user who can write the directory plants symlinks at the record's
  // name and at the fixed temporary name earlier versions used, pointing at
  // a file of value: saving must leave that file exactly as it was.
  TempDir dir;
  std::string path = dir.file(".d.sparsync-checkpoint");
  std::string victim = dir.file("victim");
  const std::vector<uint8_t> precious(50000, 0xab);
  testing::write_all(victim, precious);
  ASSERT_EQ(::symlink(victim.c_str(), (path + ".tmp").c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), path.c_str()), 0);
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  ASSERT_TRUE(load_checkpoint(path, &rec, &corrupt).is_ok());
  EXPECT_TRUE(corrupt) << "a symlink at the record's name is not a record";
  ASSERT_TRUE(save_checkpoint(path, sample()).is_ok());
  EXPECT_EQ(testing::read_all(victim), precious);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "the record replaced the symlink";
  ASSERT_TRUE(load_checkpoint(path, &rec, &corrupt).is_ok());
  ASSERT_TRUE(rec.has_value());
  expect_same(*rec, sample());
  // The temporary of each save has its own unpredictable name, and none is
  // left behind.
  EXPECT_EQ(testing::directory_entries(dir.path()).size(), 3u);
}

TEST(Checkpoint, ARecordOwnedByAnotherUserIsNotARecord) {
  // Another user who can write the directory can compute every field of a
  // record from stat(2); a file of theirs at the record's name must not be
  // taken for one. Root's and our own are.
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a file owned by another user";
  TempDir dir;
  std::string path = dir.file(".d.sparsync-checkpoint");
  ASSERT_TRUE(save_checkpoint(path, sample()).is_ok());
  std::optional<CheckpointRecord> rec;
  bool corrupt = true;
  ASSERT_TRUE(load_checkpoint(path, &rec, &corrupt).is_ok());
  EXPECT_TRUE(rec.has_value());
  EXPECT_FALSE(corrupt);
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  ASSERT_TRUE(load_checkpoint(path, &rec, &corrupt).is_ok());
  EXPECT_FALSE(rec.has_value());
  EXPECT_TRUE(corrupt) << "a record planted by uid 65534 was trusted";
}

TEST(Checkpoint, ALongTargetNameGetsARecordNameThatFits) {
  std::string name(250, 'n');
  std::string rec = record_name(name);
  EXPECT_LE(rec.size() + 21, 255u) << "room for the temporary's suffix";
  EXPECT_NE(rec, record_name(std::string(249, 'n') + "m")) << "names that share a head still differ";
  EXPECT_EQ(record_name("disk.img"), ".disk.img.sparsync-checkpoint");
  // A short name spelled like a long name's record (its head, a dot and
  // the hash) must not get that same record: the two targets would share
  // one, and a run of either would remove the other's incomplete mark.
  const std::string look_alike = rec.substr(1, rec.rfind(".sparsync-checkpoint") - 1);
  EXPECT_NE(record_name(look_alike), rec) << look_alike;
  TempDir dir;
  ASSERT_TRUE(save_checkpoint(dir.file(rec), sample()).is_ok());
}

TEST(Checkpoint, DevicePathLivesInTheStateDirectory) {
  ::setenv("SPARSYNC_STATE_DIR", "/var/tmp/sst", 1);
  EXPECT_EQ(checkpoint_path("/dev/vg0/vm1", true), "/var/tmp/sst/!dev!vg0!vm1.checkpoint");
  ::unsetenv("SPARSYNC_STATE_DIR");
  EXPECT_EQ(checkpoint_path("/dev/sdb", true), "/var/lib/sparsync/!dev!sdb.checkpoint");
  EXPECT_EQ(checkpoint_path("disk.img", false), ".disk.img.sparsync-checkpoint");
}

}  // namespace
}  // namespace sparsync
