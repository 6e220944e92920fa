// --changes reflink's references (source/reflink_reference.h) where no
// mount is needed: their names beside the image, the refusal where the
// test directory lies (unless that filesystem reflinks), sources that are
// not files, and names planted where a reference goes, which must be
// refused and never used, followed, replaced or removed. The real
// filesystems are in reflink_changes_test.cpp.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>

#include "common/device.h"
#include "source/reflink_reference.h"
#include "support/files.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::kKiB;

constexpr uid_t kReflinkNobody = 65534;

std::vector<std::string> reflink_place_names(const std::string& dir) {
  std::vector<std::string> names = testing::directory_entries(dir);
  std::sort(names.begin(), names.end());
  return names;
}

ReferenceIdentity reflink_place_identity(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return {.dev = st.st_dev,
          .ino = st.st_ino,
          .ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec,
          .size = static_cast<uint64_t>(st.st_size)};
}

// An 8 KiB image in the test directory.
class ReflinkPlace : public ::testing::Test {
 protected:
  void SetUp() override {
    char buf[4096];
    ASSERT_NE(::realpath(dir_.path().c_str(), buf), nullptr);
    real_ = buf;
    testing::SparseImage(file("disk.img"), 8 * kKiB).data(0, 8 * kKiB);
    auto place = reference_place(file("disk.img"));
    ASSERT_TRUE(place.is_ok()) << place.status().message();
    place_ = place.take();
  }
  std::string file(const std::string& name) const { return real_ + "/" + name; }
  // A stand-in for this run's reference (nothing here needs it cloned).
  NewReference stand_in(uint64_t size = 8 * kKiB) {
    testing::SparseImage(file(place_.fresh), size).data(0, size, 9);
    NewReference r;
    r.fd.reset(::open(file(place_.fresh).c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
    r.identity = reflink_place_identity(file(place_.fresh));
    return r;
  }
  void plant_file(const std::string& name, uint64_t size, uid_t owner = 0) {
    testing::SparseImage(file(name), size).data(0, size, 5);
    if (owner != 0) {
      ASSERT_EQ(::chown(file(name).c_str(), owner, owner), 0);
    }
  }

  testing::TempDir dir_;
  std::string real_;
  ReferencePlace place_;
};

TEST_F(ReflinkPlace, NamesTheReferencesBesideTheImage) {
  EXPECT_EQ(place_.dir_shown, real_);
  EXPECT_EQ(place_.source, "disk.img");
  EXPECT_EQ(place_.kept, ".disk.img.sparsync-ref");
  EXPECT_EQ(place_.fresh, ".disk.img.sparsync-ref-new");
  auto tagged = reference_place(file("disk.img"), "backup-host_2");
  ASSERT_TRUE(tagged.is_ok()) << tagged.status().message();
  EXPECT_EQ(tagged.value().kept, ".disk.img.backup-host_2.sparsync-ref");
  EXPECT_EQ(tagged.value().fresh, ".disk.img.backup-host_2.sparsync-ref-new");
  auto bad = reference_place(file("disk.img"), "../x");
  EXPECT_EQ(bad.status().kind(), ErrorKind::kUsage);
  EXPECT_EQ(bad.status().message(), "a reflink reference tag is up to 64 of [A-Za-z0-9_-], not '../x'");
  const std::string long_name(240, 'n');
  testing::write_all(file(long_name), {1});
  auto too_long = reference_place(file(long_name));
  EXPECT_EQ(too_long.status().kind(), ErrorKind::kUsage);
  EXPECT_EQ(too_long.status().message(), "cannot keep a reflink reference beside " + file(long_name) + ": its name (." +
                                             long_name +
                                             ".sparsync-ref-new) would be longer than 255 bytes; give the image a "
                                             "shorter name or use --changes digest");
  // This run's reference, opened as a source through its place.
  NewReference fresh = stand_in();
  auto where = reference_path(place_, place_.fresh);
  ASSERT_TRUE(where.is_ok()) << where.status().message();
  EXPECT_TRUE(where.value().exists);
  EXPECT_EQ(where.value().shown(), file(place_.fresh));
  auto device = FileDevice::open(where.value(), false, ErrorKind::kSource);
  ASSERT_TRUE(device.is_ok()) << device.status().message();
  struct stat st {};
  ASSERT_EQ(::fstat(device.value()->fd(), &st), 0);
  EXPECT_EQ(st.st_ino, fresh.identity.ino);
  EXPECT_EQ(device.value()->size(), 8 * kKiB);
  auto missing = reference_place(file("missing.img"));
  EXPECT_EQ(missing.status().message(), "cannot open " + file("missing.img") + ": No such file or directory");
}

TEST_F(ReflinkPlace, NamesFilesystemTypes) {
  EXPECT_EQ(filesystem_type_name(0x58465342), "xfs");
  EXPECT_EQ(filesystem_type_name(0x9123683E), "btrfs");
  EXPECT_EQ(filesystem_type_name(0xEF53), "ext4");
  EXPECT_EQ(filesystem_type_name(0x01021994), "tmpfs");
  EXPECT_EQ(filesystem_type_name(0x12345678), "filesystem type 0x12345678");
}

TEST_F(ReflinkPlace, TakingOnTheTestDirectorysFilesystemFailsUnlessItReflinks) {
  struct statfs fs {};
  ASSERT_EQ(::statfs(real_.c_str(), &fs), 0);
  const std::string type = filesystem_type_name(fs.f_type);
  if (type == "xfs" || type == "btrfs") GTEST_SKIP() << real_ << " is on " << type << ", which may reflink";
  auto r = take_reference(place_);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().kind(), ErrorKind::kUsage);
  EXPECT_EQ(r.status().message().rfind("cannot take a reflink copy of " + file("disk.img") + " on " + type + " (", 0),
            0u)
      << r.status().message();
  EXPECT_NE(r.status().message().find("); --changes reflink needs XFS (reflink=1) or btrfs; use --changes digest"),
            std::string::npos)
      << r.status().message();
  EXPECT_EQ(reflink_place_names(real_), std::vector<std::string>{"disk.img"});
}

TEST_F(ReflinkPlace, ASourceThatIsNotARegularFileIsRefused) {
  ASSERT_EQ(::mkfifo(file("pipe.img").c_str(), 0600), 0);
  auto fifo_place = reference_place(file("pipe.img"));
  ASSERT_TRUE(fifo_place.is_ok()) << fifo_place.status().message();
  auto r = take_reference(fifo_place.value());
  EXPECT_EQ(r.status().kind(), ErrorKind::kUsage);
  EXPECT_EQ(r.status().message(),
            "--changes reflink needs a raw image file, and " + file("pipe.img") + " is a FIFO; use --changes digest");
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  r = take_reference(place_, null.get());
  EXPECT_EQ(r.status().kind(), ErrorKind::kUsage);
  EXPECT_EQ(r.status().message(), "--changes reflink needs a raw image file, and " + file("disk.img") +
                                      " is a character device; use --changes digest");
  EXPECT_EQ(reflink_place_names(real_), (std::vector<std::string>{"disk.img", "pipe.img"}));
}

TEST_F(ReflinkPlace, AKeptReferenceIsRefusedUnlessItIsOursAlone) {
  NewReference fresh = stand_in();
  const std::string at = "kept reference " + file(place_.kept) + " is ";
  auto refused = [&] {
    KeptReference k = open_kept_reference(place_, fresh);
    EXPECT_EQ(k.fd.valid(), k.refused.empty());
    return k.refused;
  };
  EXPECT_EQ(refused(), "there is no kept reference yet");
  // A symlink, even to a file that would pass, is never followed.
  ASSERT_EQ(::symlink("disk.img", file(place_.kept).c_str()), 0);
  EXPECT_EQ(refused(), at + "a symlink");
  ASSERT_EQ(::unlink(file(place_.kept).c_str()), 0);
  // A second name of another file (here the image itself).
  ASSERT_EQ(::link(file("disk.img").c_str(), file(place_.kept).c_str()), 0);
  EXPECT_EQ(refused(), at + "a file with 2 links");
  ASSERT_EQ(::unlink(file(place_.kept).c_str()), 0);
  // A FIFO is refused without blocking; so is a directory.
  ASSERT_EQ(::mkfifo(file(place_.kept).c_str(), 0600), 0);
  EXPECT_EQ(refused(), at + "a FIFO");
  ASSERT_EQ(::unlink(file(place_.kept).c_str()), 0);
  ASSERT_EQ(::mkdir(file(place_.kept).c_str(), 0700), 0);
  EXPECT_EQ(refused(), at + "a directory");
  ASSERT_EQ(::rmdir(file(place_.kept).c_str()), 0);
  // The image was resized since.
  plant_file(place_.kept, 4 * kKiB);
  EXPECT_EQ(refused(), at + "4096 bytes and the image now 8192 (it was resized)");
  // Ours, alone, the same size: used, and named so the caller can bind it.
  plant_file(place_.kept, 8 * kKiB);
  KeptReference good = open_kept_reference(place_, fresh);
  EXPECT_EQ(good.refused, "");
  EXPECT_TRUE(good.fd.valid());
  EXPECT_EQ(good.identity, reflink_place_identity(file(place_.kept)));
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to plant a file of another user";
  ASSERT_EQ(::unlink(file(place_.kept).c_str()), 0);
  plant_file(place_.kept, 8 * kKiB, kReflinkNobody);
  EXPECT_EQ(refused(), at + "owned by uid 65534, not by uid 0");
}

TEST_F(ReflinkPlace, ALeftoverNewReferenceIsRemovedOnlyWhenOursAlone) {
  const std::string refusal = "refusing to take a reflink reference: " + file(place_.fresh) + " is ";
  const std::string advice = ", not a leftover of sparsync; remove it or move it away";
  auto take_message = [&] {
    auto r = take_reference(place_);
    EXPECT_FALSE(r.is_ok());
    return r.status().message();
  };
  plant_file("victim", 8 * kKiB);
  const std::vector<uint8_t> victim = testing::read_all(file("victim"));
  ASSERT_EQ(::symlink("victim", file(place_.fresh).c_str()), 0);
  EXPECT_EQ(take_message(), refusal + "a symlink" + advice);
  ASSERT_EQ(::unlink(file(place_.fresh).c_str()), 0);
  ASSERT_EQ(::link(file("victim").c_str(), file(place_.fresh).c_str()), 0);
  EXPECT_EQ(take_message(), refusal + "a file with 2 links" + advice);
  ASSERT_EQ(::unlink(file(place_.fresh).c_str()), 0);
  EXPECT_EQ(testing::read_all(file("victim")), victim);
  // Ours alone: removed, and the run goes on (to the filesystem's refusal
  // here, unless the test directory reflinks).
  plant_file(place_.fresh, 8 * kKiB);
  const ReferenceIdentity leftover = reflink_place_identity(file(place_.fresh));
  {
    auto r = take_reference(place_);
    if (r.is_ok()) {
      EXPECT_NE(r.value().identity, leftover);
    } else {
      EXPECT_EQ(r.status().kind(), ErrorKind::kUsage) << r.status().message();
    }
    EXPECT_EQ(testing::exists(file(place_.fresh)), r.is_ok());
  }
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to plant a file of another user";
  (void)::unlink(file(place_.fresh).c_str());
  plant_file(place_.fresh, 8 * kKiB, kReflinkNobody);
  EXPECT_EQ(take_message(), refusal + "owned by uid 65534, not by uid 0" + advice);
  EXPECT_TRUE(testing::exists(file(place_.fresh)));
}

TEST_F(ReflinkPlace, KeepingNeverReplacesOrMovesWhatIsNotOurs) {
  NewReference fresh = stand_in();
  ASSERT_EQ(::symlink("disk.img", file(place_.kept).c_str()), 0);
  auto kept = keep_reference(place_, fresh);
  EXPECT_EQ(kept.status().kind(), ErrorKind::kSource);
  EXPECT_EQ(kept.status().message(), "not keeping the reflink reference: " + file(place_.kept) +
                                         " is a symlink, not a reference sparsync made; remove it or move it away");
  EXPECT_EQ(reflink_place_names(real_), (std::vector<std::string>{place_.kept, place_.fresh, "disk.img"}));
  ASSERT_EQ(::unlink(file(place_.kept).c_str()), 0);
  // This run's reference was swapped for another file meanwhile.
  plant_file("other", 8 * kKiB);
  ASSERT_EQ(::rename(file("other").c_str(), file(place_.fresh).c_str()), 0);
  kept = keep_reference(place_, fresh);
  EXPECT_EQ(kept.status().message(), "not keeping " + file(place_.fresh) + ": it was moved or replaced during the run");
  Status discarded = discard_reference(place_, fresh);
  EXPECT_EQ(discarded.message(), "left " + file(place_.fresh) + ": it is no longer the reference this run took");
  EXPECT_EQ(reflink_place_names(real_), (std::vector<std::string>{place_.fresh, "disk.img"}));
  // Our own: kept, over an earlier one of ours.
  ASSERT_EQ(::unlink(file(place_.fresh).c_str()), 0);
  plant_file(place_.kept, 8 * kKiB);
  NewReference ours = stand_in();
  kept = keep_reference(place_, ours);
  ASSERT_TRUE(kept.is_ok()) << kept.status().message();
  EXPECT_EQ(kept.value(), reflink_place_identity(file(place_.kept)));
  EXPECT_EQ(kept.value().ino, ours.identity.ino);
  EXPECT_EQ(reflink_place_names(real_), (std::vector<std::string>{place_.kept, "disk.img"}));
}

TEST_F(ReflinkPlace, RemovingLeavesWhatIsNotOursAndSaysSo) {
  ASSERT_EQ(::symlink("disk.img", file(place_.kept).c_str()), 0);
  ASSERT_EQ(::link(file("disk.img").c_str(), file(place_.fresh).c_str()), 0);
  std::vector<std::string> left;
  ASSERT_TRUE(remove_references(place_, &left).is_ok());
  EXPECT_EQ(left, (std::vector<std::string>{
                      "left " + file(place_.fresh) + ": a file with 2 links, not a reference sparsync made",
                      "left " + file(place_.kept) + ": a symlink, not a reference sparsync made"}));
  EXPECT_EQ(reflink_place_names(real_), (std::vector<std::string>{place_.kept, place_.fresh, "disk.img"}));
  EXPECT_EQ(testing::file_size(file("disk.img")), 8 * kKiB);
}

}  // namespace
}  // namespace sparsync
