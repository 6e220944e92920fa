// --changes end to end, local (pipe) mode (docs/change-tracking.md,
// PROTOCOL.md §4.19): a tracked run compares only what changed, reads on
// each side about the changed bytes, and ends byte-identical; and every
// case where the change list cannot be proved (the target written, rolled
// back or synced without --changes in between, an interrupted run, a damaged
// digest file, --full-every) compares in full, says why in JSON, and still
// ends byte-identical. Reflink rows run on an XFS loop mount, bitmap rows on
// a qcow2 image with qemu's tools; both skip with a printed reason where
// those cannot run here.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/checkpoint_store.h"
#include "support/command.h"
#include "support/files.h"
#include "support/loop_device.h"
#include "support/process.h"
#include "support/qemu_tools.h"
#include "support/scratch_filesystem.h"
#include "support/sizes.h"

namespace sparsync::testing {
namespace {

constexpr uint64_t kTrackedImage = 32 * kMiB;

// $SPARSYNC_STATE_DIR for one test: the tracker's state and the block
// devices' records stay in the test's directory.
class TrackerStateDir {
 public:
  explicit TrackerStateDir(const std::string& dir) { ::setenv("SPARSYNC_STATE_DIR", dir.c_str(), 1); }
  ~TrackerStateDir() { ::unsetenv("SPARSYNC_STATE_DIR"); }
};

void overwrite_bytes(const std::string& path, uint64_t offset, uint64_t length, uint32_t seed) {
  std::vector<uint8_t> bytes = pattern_bytes(seed, offset, length);
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
  ::fsync(fd);
  ::close(fd);
}

// Where the checkpoint record of `target` stands (0: none, or a marker only).
uint64_t durable_offset_of(const std::string& target) {
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  if (!load_checkpoint(checkpoint_path(target, false), &rec, &corrupt).is_ok() || !rec) return 0;
  return rec->durable_offset;
}

void write_zeros(const std::string& path, uint64_t offset, uint64_t length) {
  std::vector<uint8_t> zeros(length, 0);
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(length));
  ::close(fd);
}

nlohmann::json tracked_run(std::vector<std::string> args) {
  args.insert(args.begin(), "--json");
  CommandResult r = run_sparsync(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception&) {
    ADD_FAILURE() << "no JSON: " << r.out << r.err;
    return nlohmann::json::object({{"change_source", "?"}});
  }
}

class Changes : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.file("src.img");
    dst_ = dir_.file("dst.img");
    SparseImage(src_, kTrackedImage).data(0, 6 * kMiB, 1).data(12 * kMiB, 8 * kMiB, 2).data(30 * kMiB, kMiB, 3);
  }
  // Three scattered changes of `seed`: 8 KiB of data, 4 KiB into a hole,
  // and 4 KiB of data zeroed. 16 KiB in all, in 4 blocks.
  void change_source(uint32_t seed) {
    overwrite_bytes(src_, 3 * kMiB, 8 * kKiB, seed);
    overwrite_bytes(src_, 9 * kMiB, 4 * kKiB, seed);
    write_zeros(src_, 13 * kMiB, 4 * kKiB);
  }
  nlohmann::json run(const std::string& mode, std::vector<std::string> more = {}) {
    std::vector<std::string> args{"--changes", mode};
    args.insert(args.end(), more.begin(), more.end());
    args.push_back(src_);
    args.push_back(dst_);
    return tracked_run(args);
  }
  void expect_identical() { EXPECT_EQ(first_difference(src_, dst_), std::nullopt); }

  TempDir dir_;
  TrackerStateDir state_{dir_.file("state")};
  std::string src_, dst_;
};

TEST_F(Changes, DigestReadsOnlyTheSourceAndSendsOnlyWhatChanged) {
  nlohmann::json first = run("digest");
  EXPECT_EQ(first["change_source"], "full");
  EXPECT_EQ(first["fallback_reason"], "no earlier run with --changes");
  expect_identical();
  change_source(7);
  nlohmann::json second = run("digest");
  EXPECT_EQ(second["change_source"], "digest");
  EXPECT_TRUE(second["fallback_reason"].is_null());
  EXPECT_EQ(second["target_bytes_hashed"], 0) << "the target reads nothing";
  // The whole source's data before the session (15 MiB, and the 4 KiB now
  // written into a hole), then the three changed blocks again.
  EXPECT_EQ(second["bytes_read"], 15 * kMiB + 4 * kKiB + 16 * kKiB);
  EXPECT_EQ(second["data_bytes"], 12 * kKiB);
  EXPECT_EQ(second["hole_bytes"], 4 * kKiB);
  EXPECT_EQ(second["changed_blocks"], 4);
  expect_identical();
  nlohmann::json third = run("digest");
  EXPECT_EQ(third["change_source"], "digest");
  EXPECT_EQ(third["data_bytes"], 0);
  EXPECT_EQ(third["changed_blocks"], 0);
}

// The reason the target's proof exists: a target written behind the
// tracker's back would keep its wrong block under a trusted list.
TEST_F(Changes, ATargetWrittenSinceIsComparedInFullAndMended) {
  run("digest");
  overwrite_bytes(dst_, 15 * kMiB, 100, 99);  // the source did not change there
  change_source(8);
  nlohmann::json j = run("digest");
  EXPECT_EQ(j["change_source"], "full");
  EXPECT_EQ(j["fallback_reason"],
            "the target changed since the last run (written, restored or rolled back outside it)");
  expect_identical();
  EXPECT_EQ(run("digest")["change_source"], "digest") << "the tracker starts again from the full run";
}

TEST_F(Changes, ARunWithoutChangesInBetweenEndsTheProof) {
  run("digest");
  change_source(9);
  CommandResult plain = run_sparsync({"-q", src_, dst_});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  change_source(10);
  nlohmann::json j = run("digest");
  EXPECT_EQ(j["change_source"], "full");
  EXPECT_EQ(j["fallback_reason"],
            "the target records no completed run (the last one did not complete, or ran without --changes)");
  expect_identical();
}

TEST_F(Changes, ARollbackOfTheTargetEndsTheProof) {
  run("digest", {"--keep", "2"});
  change_source(11);
  EXPECT_EQ(run("digest", {"--keep", "2"})["change_source"], "digest");
  CommandResult back = run_sparsync({"--rollback", "--to", "1", dst_});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  nlohmann::json j = run("digest");
  EXPECT_EQ(j["change_source"], "full");
  expect_identical();
}

TEST_F(Changes, AnotherTargetKeepsItsOwnTrackerAndAReplacedTargetIsNotTrusted) {
  const std::string other = dir_.file("other.img");
  run("digest");
  EXPECT_EQ(tracked_run({"--changes", "digest", src_, other})["change_source"], "full");
  change_source(12);
  EXPECT_EQ(tracked_run({"--changes", "digest", src_, other})["change_source"], "digest");
  // The other copy, one run ahead, moved into dst's place: its synced record
  // stays behind, and dst's does not describe it.
  ASSERT_EQ(::rename(other.c_str(), dst_.c_str()), 0);
  overwrite_bytes(src_, 20 * kMiB, 4 * kKiB, 13);
  nlohmann::json j = run("digest");
  EXPECT_EQ(j["change_source"], "full");
  expect_identical();
}

// Each case where the list would describe another image than the one now
// read compares in full, says which, and ends identical; the run after it
// is tracked again.
TEST_F(Changes, AReplacedSourceIsNotTheOneTheDigestsDescribe) {
  run("digest");
  const std::string fresh = dir_.file("src.new");
  ASSERT_EQ(run_command({"/bin/cp", "--sparse=always", src_, fresh}).exit_code, 0);
  overwrite_bytes(fresh, 5 * kMiB, 4 * kKiB, 40);
  ASSERT_EQ(::rename(fresh.c_str(), src_.c_str()), 0);
  nlohmann::json j = run("digest");
  EXPECT_EQ(j["change_source"], "full");
  EXPECT_EQ(j["fallback_reason"], "the source is not the file or device the last run read");
  expect_identical();
  change_source(41);
  EXPECT_EQ(run("digest")["change_source"], "digest");
  expect_identical();
}

TEST_F(Changes, AnotherBlockSizeHashOrImageSizeComparesInFull) {
  const std::string differ = "the image size, block size or hash differ from the last run's";
  run("digest");
  change_source(42);
  nlohmann::json bigger_blocks = run("digest", {"--block-size", "64K"});
  EXPECT_EQ(bigger_blocks["change_source"], "full");
  EXPECT_EQ(bigger_blocks["fallback_reason"], differ);
  expect_identical();
  change_source(43);
  EXPECT_EQ(run("digest", {"--block-size", "64K"})["change_source"], "digest");
  expect_identical();
  change_source(44);
  nlohmann::json sha = run("digest", {"--block-size", "64K", "--checksum", "sha256"});
  EXPECT_EQ(sha["change_source"], "full");
  EXPECT_EQ(sha["fallback_reason"], differ);
  expect_identical();
  // The source grows by 1 MiB of data.
  overwrite_bytes(src_, kTrackedImage, kMiB, 45);
  ASSERT_EQ(file_size(src_), kTrackedImage + kMiB);
  nlohmann::json resized = run("digest", {"--block-size", "64K", "--checksum", "sha256"});
  EXPECT_EQ(resized["change_source"], "full");
  EXPECT_EQ(resized["fallback_reason"], differ);
  expect_identical();
}

// This side forgot the last run (its state restored from before it): the
// target proves the run it knows of, which is not the one this side's list
// starts from.
TEST_F(Changes, StateFromBeforeTheLastRunIsNotTrustedByTheTarget) {
  run("digest");
  const std::string state = dir_.file("state"), saved = dir_.file("state.saved");
  ASSERT_EQ(run_command({"/bin/cp", "-a", state, saved}).exit_code, 0);
  change_source(46);
  EXPECT_EQ(run("digest")["change_source"], "digest");
  ASSERT_EQ(run_command({"/bin/rm", "-rf", state}).exit_code, 0);
  ASSERT_EQ(run_command({"/bin/mv", saved, state}).exit_code, 0);
  change_source(47);
  nlohmann::json j = run("digest");
  EXPECT_EQ(j["change_source"], "full");
  EXPECT_EQ(j["fallback_reason"], "the target's last completed run is not the one the change list starts from");
  expect_identical();
}

TEST_F(Changes, DamagedStoredDigestsAreNeverUsed) {
  run("digest");
  std::string digests;
  for (const std::string& name : directory_entries(dir_.file("state"))) {
    if (name.size() > 8 && name.substr(name.size() - 8) == ".digests") digests = dir_.file("state") + "/" + name;
  }
  ASSERT_FALSE(digests.empty());
  // Block 3 MiB / 4 KiB's digest zeroed: it would read as "unchanged zeros".
  std::vector<uint8_t> bytes = read_all(digests);
  const size_t at = 64 + (3 * kMiB / 4096) * 16;
  ASSERT_LT(at + 16, bytes.size());
  std::fill(bytes.begin() + static_cast<ptrdiff_t>(at), bytes.begin() + static_cast<ptrdiff_t>(at + 16), 0);
  write_all(digests, bytes);
  change_source(14);
  nlohmann::json j = run("digest");
  EXPECT_EQ(j["change_source"], "full");
  EXPECT_NE(j["fallback_reason"].get<std::string>().find("damaged"), std::string::npos) << j.dump();
  expect_identical();
}

TEST_F(Changes, FullEveryForcesAFullComparison) {
  run("digest", {"--full-every", "3"});
  change_source(15);
  EXPECT_EQ(run("digest", {"--full-every", "3"})["change_source"], "digest");
  change_source(16);
  EXPECT_EQ(run("digest", {"--full-every", "3"})["change_source"], "digest");
  change_source(17);
  nlohmann::json j = run("digest", {"--full-every", "3"});
  EXPECT_EQ(j["change_source"], "full");
  EXPECT_EQ(j["fallback_reason"], "a full comparison every 3 runs (--full-every)");
  expect_identical();
  EXPECT_EQ(run("digest", {"--full-every", "3"})["change_source"], "digest");
}

TEST_F(Changes, ADryRunChangesNoTrackerAndNoRecord) {
  run("digest");
  change_source(18);
  nlohmann::json dry = run("digest", {"--dry-run"});
  EXPECT_EQ(dry["change_source"], "digest");
  EXPECT_EQ(dry["data_bytes"], 12 * kKiB);
  EXPECT_NE(first_difference(src_, dst_), std::nullopt) << "a dry run writes nothing";
  nlohmann::json real = run("digest");
  EXPECT_EQ(real["change_source"], "digest") << "the dry run left the proof as it was";
  expect_identical();
}

TEST_F(Changes, AnInterruptedRunResumesInFullAndTheTrackerWaits) {
  run("digest");
  const std::string big = dir_.file("big.img");
  // A larger image, so the run can be caught mid-way.
  SparseImage(big, 256 * kMiB).data(0, 256 * kMiB, 4);
  const std::string big_dst = dir_.file("big-dst.img");
  EXPECT_EQ(tracked_run({"--changes", "digest", big, big_dst})["change_source"], "full");
  overwrite_bytes(big, 0, 256 * kMiB, 5);  // everything changes: about 4 s at 64 MiB/s
  auto p = Process::start({SPARSYNC_BINARY, "--changes", "digest", "--bwlimit", "64M", "--checkpoint-interval", "16M",
                           "--checkpoint-seconds", "1", big, big_dst});
  ASSERT_TRUE(wait_until([&] { return durable_offset_of(big_dst) > 0 || !p->running(); }, 30));
  ASSERT_TRUE(p->running()) << "the run ended before it could be interrupted";
  p->signal(SIGINT);
  auto r = p->wait(30);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->exit_code, 8) << r->err;
  nlohmann::json j = tracked_run({"--changes", "digest", big, big_dst});
  EXPECT_EQ(j["change_source"], "full");
  EXPECT_GT(j["resumed_from"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["fallback_reason"], "an interrupted run is resumed from its checkpoint");
  EXPECT_EQ(first_difference(big, big_dst), std::nullopt);
  // The resumed run read only the part after its checkpoint: its digests
  // cannot stand in for the target, so the next run compares in full too.
  nlohmann::json next = tracked_run({"--changes", "digest", big, big_dst});
  EXPECT_EQ(next["change_source"], "full");
  EXPECT_NE(next["fallback_reason"].get<std::string>().find("resumed an interrupted one"), std::string::npos);
  EXPECT_EQ(tracked_run({"--changes", "digest", big, big_dst})["change_source"], "digest");
}

TEST_F(Changes, BadUsesAreRefusedBeforeAnythingIsRead) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--changes", "sometimes", src_, dst_}, "give digest, reflink or bitmap:NAME"},
      {{"--full-every", "3", src_, dst_}, "--full-every goes with --changes"},
      {{"--changes", "digest", "--size", "1M", "-", dst_}, "not stdin"},
      {{"--changes", "bitmap:nightly", src_, dst_}, "reads a qcow2 image"},
      {{"--changes", "digest", "host.invalid:/x.img", dst_}, "tracks a source on this host"},
  };
  for (const Case& c : cases) {
    CommandResult r = run_sparsync(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.says << ": " << r.err;
    EXPECT_TRUE(r.mentions(c.says)) << r.err;
  }
  EXPECT_FALSE(exists(dst_));
}

// --status tells an operator whether the copy is still as the last tracked
// run left it: the same proof the next run relies on, read and nothing changed.
TEST_F(Changes, StatusSaysWhetherTheTargetIsStillAsTheLastTrackedRunLeftIt) {
  auto status = [&](const std::string& target) {
    CommandResult r = run_sparsync({"--status", target});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  run("digest");
  const std::string synced = status(dst_);
  EXPECT_EQ(synced.rfind(dst_ + ": complete: last synced ", 0), 0u) << synced;
  EXPECT_NE(synced.find(" by a run with --changes, and unchanged since\n"), std::string::npos) << synced;
  EXPECT_EQ(status(dst_), synced) << "--status changes nothing";
  nlohmann::json as_json = nlohmann::json::parse(run_sparsync({"--status", "--json", dst_}).out);
  EXPECT_EQ(as_json["state"], "complete");
  EXPECT_EQ(as_json["synced"]["since"], "unchanged");
  EXPECT_GT(as_json["synced"]["unix"].get<uint64_t>(), 0u);
  EXPECT_EQ(run("digest")["change_source"], "digest") << "--status left the proof as it was";

  overwrite_bytes(dst_, 15 * kMiB, 100, 98);
  const std::string written = status(dst_);
  EXPECT_EQ(written.rfind(dst_ + ": complete (no interrupted sync recorded); changed since a run with --changes last "
                                 "synced it (",
                          0),
            0u)
      << written;
  EXPECT_NE(written.find("), so the next such run compares in full\n"), std::string::npos) << written;
  EXPECT_EQ(nlohmann::json::parse(run_sparsync({"--status", "--json", dst_}).out)["synced"]["since"], "changed");
  EXPECT_EQ(run("digest")["change_source"], "full") << "what --status said";
  expect_identical();

  // A run without --changes leaves no proof behind it.
  CommandResult plain = run_sparsync({"-q", src_, dst_});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(status(dst_), dst_ + ": complete (no interrupted sync recorded)\n");
}

// --status opens nothing for real but a regular file or a block device: a
// name swapped for a FIFO is looked at, not opened (a writer waiting on it
// stays waiting), as a tape device would not be rewound.
TEST_F(Changes, StatusNeverOpensWhatIsNoImage) {
  run("digest");
  ASSERT_EQ(::unlink(dst_.c_str()), 0);
  ASSERT_EQ(::mkfifo(dst_.c_str(), 0600), 0);
  auto writer = Process::start({"/bin/sh", "-c", "echo x > '" + dst_ + "'"});
  CommandResult r = run_sparsync({"--status", dst_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("whether it changed since cannot be told here"), std::string::npos) << r.out;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(writer->running()) << "--status opened the FIFO for reading";
  writer->signal(SIGKILL);
}

// A block device target: its proof is the kernel's count of writes to it.
TEST_F(Changes, ABlockDeviceTargetIsTrustedUntilSomethingWritesToIt) {
  const std::string backing = dir_.file("disk.raw");
  SparseImage(backing, kTrackedImage);
  std::string why;
  auto loop = LoopDevice::attach(backing, &why);
  if (!loop) GTEST_SKIP() << why;
  auto run_to_device = [&] { return tracked_run({"--changes", "digest", "--force", src_, loop->path()}); };
  EXPECT_EQ(run_to_device()["change_source"], "full");
  change_source(20);
  nlohmann::json tracked = run_to_device();
  EXPECT_EQ(tracked["change_source"], "digest");
  EXPECT_EQ(tracked["target_bytes_hashed"], 0);
  EXPECT_EQ(first_difference(src_, loop->path()), std::nullopt);
  CommandResult synced = run_sparsync({"--status", loop->path()});
  EXPECT_NE(synced.out.find(": complete: last synced "), std::string::npos) << synced.out << synced.err;
  // Something else writes through the device.
  overwrite_bytes(loop->path(), 25 * kMiB, 4096, 21);
  CommandResult written = run_sparsync({"--status", loop->path()});
  EXPECT_NE(written.out.find("; changed since a run with --changes last synced it"), std::string::npos)
      << written.out << written.err;
  nlohmann::json after = run_to_device();
  EXPECT_EQ(after["change_source"], "full");
  EXPECT_EQ(first_difference(src_, loop->path()), std::nullopt);
}

TEST_F(Changes, ReflinkReadsOnlyTheChangedExtentsOnBothSides) {
  std::string why;
  auto xfs = ScratchFilesystem::make("xfs", 320 * kMiB, &why);
  if (!xfs) GTEST_SKIP() << why;
  const std::string src = xfs->file("vm.img");
  SparseImage(src, kTrackedImage).data(0, 6 * kMiB, 1).data(12 * kMiB, 8 * kMiB, 2);
  auto reflink = [&] { return tracked_run({"--changes", "reflink", src, dst_}); };
  EXPECT_EQ(reflink()["change_source"], "full");
  EXPECT_TRUE(exists(xfs->path() + "/" +
                     [&] {
                       for (const std::string& n : directory_entries(xfs->path())) {
                         if (n.find(".sparsync-ref") != std::string::npos) return n;
                       }
                       return std::string("(none)");
                     }()))
      << "a kept reference";
  overwrite_bytes(src, 3 * kMiB, 8 * kKiB, 22);
  overwrite_bytes(src, 9 * kMiB, 4 * kKiB, 22);
  nlohmann::json j = reflink();
  EXPECT_EQ(j["change_source"], "reflink");
  EXPECT_EQ(j["bytes_read"], 12 * kKiB);
  // Small listed ranges are read without asking where their holes are.
  EXPECT_EQ(j["target_bytes_hashed"], 12 * kKiB);
  EXPECT_EQ(j["data_bytes"], 12 * kKiB);
  EXPECT_EQ(first_difference(src, dst_), std::nullopt);
  size_t references = 0;
  for (const std::string& n : directory_entries(xfs->path()))
    references += n.find(".sparsync-ref") != std::string::npos;
  EXPECT_EQ(references, 1u) << "one kept reference, no leftover copy";
  // The target written since: the kept reference is not enough.
  overwrite_bytes(dst_, 14 * kMiB, 64, 23);
  EXPECT_EQ(reflink()["change_source"], "full");
  EXPECT_EQ(first_difference(src, dst_), std::nullopt);
}

TEST_F(Changes, ABitmapOfAQcow2ImageListsWhatItsGuestWrote) {
  const std::string missing = qemu_utils_missing();
  if (!missing.empty()) GTEST_SKIP() << missing;
  const std::string image = dir_.file("vm.qcow2");
  ASSERT_EQ(run_command({"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", image, "32M"}).exit_code, 0);
  ASSERT_EQ(qemu_io_write(image, "qcow2", 0, 4 * kMiB, 1), "");
  auto bitmap_run = [&] {
    return tracked_run({"--changes", "bitmap:nightly", "--source-format", "qcow2", image, dst_});
  };
  auto same = [&] {
    const std::string raw = dir_.file("check.raw");
    EXPECT_EQ(run_command({"/usr/bin/qemu-img", "convert", "-O", "raw", image, raw}).exit_code, 0);
    EXPECT_EQ(first_difference(raw, dst_), std::nullopt);
  };
  EXPECT_EQ(bitmap_run()["change_source"], "full");
  same();
  ASSERT_EQ(qemu_io_write(image, "qcow2", 20 * kMiB, 128 * kKiB, 9), "");
  nlohmann::json j = bitmap_run();
  EXPECT_EQ(j["change_source"], "bitmap:nightly");
  EXPECT_EQ(j["bytes_read"], 128 * kKiB);
  EXPECT_EQ(j["data_bytes"], 128 * kKiB);
  same();
  nlohmann::json quiet = bitmap_run();
  EXPECT_EQ(quiet["change_source"], "bitmap:nightly");
  EXPECT_EQ(quiet["bytes_read"], 0) << "the bitmap was rotated after the confirmed run";
  // A second target may not share the bitmap: the first target's rotations
  // would hide the guest's writes from it.
  ASSERT_EQ(qemu_io_write(image, "qcow2", 24 * kMiB, 64 * kKiB, 11), "");
  const std::string second = dir_.file("second.img");
  CommandResult shared = run_sparsync({"--changes", "bitmap:nightly", "--source-format", "qcow2", image, second});
  EXPECT_EQ(shared.exit_code, 2) << shared.err;
  EXPECT_TRUE(shared.mentions("already tracks the changes sent to another target")) << shared.err;
  EXPECT_FALSE(exists(second));
  nlohmann::json own = tracked_run({"--changes", "bitmap:second", "--source-format", "qcow2", image, second});
  EXPECT_EQ(own["change_source"], "full");
  EXPECT_EQ(bitmap_run()["change_source"], "bitmap:nightly") << "the first target's bitmap still serves it";
  same();
}

}  // namespace
}  // namespace sparsync::testing

namespace sparsync::testing {
namespace {

// A job's entries track their changes each on its own, as single syncs do.
TEST_F(Changes, JobEntriesTrackTheirChanges) {
  const std::string second_src = dir_.file("src2.img");
  SparseImage(second_src, 8 * kMiB).data(0, 2 * kMiB, 40);
  const std::string job = dir_.file("nightly.toml");
  write_text(job,
             "[defaults]\nchanges = \"digest\"\n[[group]]\nname = \"vm\"\n"
             "  [[group.entry]]\n  name = \"a\"\n  source = \"" +
                 src_ + "\"\n  target = \"" + dst_ +
                 "\"\n"
                 "  [[group.entry]]\n  name = \"b\"\n  source = \"" +
                 second_src + "\"\n  target = \"" + dir_.file("dst2.img") + "\"\n");
  auto sources = [&](const CommandResult& r) {
    std::vector<std::string> seen;
    try {
      const nlohmann::json doc = nlohmann::json::parse(r.out);
      for (const auto& e : doc.at("entries")) seen.push_back(e.at("change_source").get<std::string>());
    } catch (const std::exception&) {
      ADD_FAILURE() << r.out << r.err;
    }
    return seen;
  };
  CommandResult first = run_sparsync({"--json", "--job", job});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(sources(first), (std::vector<std::string>{"full", "full"}));
  change_source(41);
  CommandResult second = run_sparsync({"--json", "--job", job});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(sources(second), (std::vector<std::string>{"digest", "digest"}));
  expect_identical();
  EXPECT_EQ(first_difference(second_src, dir_.file("dst2.img")), std::nullopt);
}

}  // namespace
}  // namespace sparsync::testing
