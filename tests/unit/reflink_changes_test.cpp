// --changes reflink on real filesystems: the references
// (source/reflink_reference.h) and the FIEMAP comparison
// (source/reflink_changes.h) on XFS and btrfs made in loop-mounted images,
// and the refusal on filesystems without reflinks (ext4, tmpfs, XFS made
// with reflink=0). Each skips with the reason where mounting is not
// possible (not root, a container). What needs no mount (names, planted
// files) is in reflink_reference_test.cpp.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>

#include "source/reflink_changes.h"
#include "source/reflink_reference.h"
#include "support/files.h"
#include "support/scratch_filesystem.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::kKiB;
using testing::kMiB;

constexpr uint64_t kReflinkImageSize = 64 * kMiB;
// mkfs.xfs refuses less than 300 MB; the image is sparse and costs what
// mkfs writes (XFS: its 64 MiB log).
constexpr uint64_t kReflinkScratchSize = 320 * kMiB;

// "offset+length ..." in bytes: what a failed comparison prints.
std::string reflink_ranges_text(const std::vector<ByteRange>& ranges) {
  std::string s;
  for (const ByteRange& r : ranges) {
    if (!s.empty()) s += ' ';
    s += std::to_string(r.offset);
    s += '+';
    s += std::to_string(r.length);
  }
  return s;
}

std::vector<std::string> reflink_sorted_names(const std::string& dir) {
  std::vector<std::string> names = testing::directory_entries(dir);
  std::sort(names.begin(), names.end());
  return names;
}

ReferenceIdentity reflink_identity_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return {.dev = st.st_dev,
          .ino = st.st_ino,
          .ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec,
          .size = static_cast<uint64_t>(st.st_size)};
}

// On a filesystem with reflinks (the parameter: xfs or btrfs), a 64 MiB
// image of data and holes: data in [0, 8), [16, 24) and [40, 48) MiB.
class ReflinkOnFs : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    fs_ = testing::ScratchFilesystem::make(GetParam(), kReflinkScratchSize, &why);
    if (fs_ == nullptr) GTEST_SKIP() << why;
    path_ = fs_->file("disk.img");
    image_.emplace(path_, kReflinkImageSize);
    image_->data(0, 8 * kMiB, 1).data(16 * kMiB, 8 * kMiB, 2).data(40 * kMiB, 8 * kMiB, 3);
    use(path_);
  }
  void TearDown() override {
    place_ = {};  // its directory descriptor would keep the filesystem busy
    fs_.reset();
  }

  void use(const std::string& path) {
    auto place = reference_place(path);
    ASSERT_TRUE(place.is_ok()) << place.status().message();
    place_ = place.take();
  }
  NewReference take() {
    auto r = take_reference(place_);
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return r.take();
  }
  void take_and_keep() {
    NewReference r = take();
    auto kept = keep_reference(place_, r);
    ASSERT_TRUE(kept.is_ok()) << kept.status().message();
  }
  // What a new reference, taken now, has changed since the kept one.
  std::string changes_now() {
    NewReference fresh = take();
    KeptReference kept = open_kept_reference(place_, fresh);
    EXPECT_EQ(kept.refused, "");
    ChangeList changes;
    Status s = changed_extents(kept.fd.get(), fresh.fd.get(), fresh.identity.size, &changes);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return reflink_ranges_text(changes.ranges());
  }
  std::vector<std::string> names() const { return reflink_sorted_names(fs_->path()); }

  std::unique_ptr<testing::ScratchFilesystem> fs_;
  std::string path_;
  std::optional<testing::SparseImage> image_;
  ReferencePlace place_;
};

TEST_P(ReflinkOnFs, WrittenBlocksAreTheChangesExactly) {
  take_and_keep();
  image_
      ->data(1 * kMiB, 4 * kKiB, 7)             // one block of data
      .data(8 * kMiB, 4 * kKiB, 7)              // just past data (XFS grows that extent over it)
      .data(10 * kMiB, 4 * kKiB, 7)             // into a hole
      .data(17 * kMiB + 4 * kKiB, 4 * kKiB, 7)  // one block of the second data range
      .data(20 * kMiB - 2 * kKiB, 4 * kKiB, 7)  // across two blocks
      .data(24 * kMiB, 64 * kKiB, 7)            // just past data again, longer
      .data(41 * kMiB + 100, 10, 7);            // ten bytes: their block
  const std::vector<ByteRange> expected = {{1 * kMiB, 4 * kKiB},
                                           {8 * kMiB, 4 * kKiB},
                                           {10 * kMiB, 4 * kKiB},
                                           {17 * kMiB + 4 * kKiB, 4 * kKiB},
                                           {20 * kMiB - 4 * kKiB, 8 * kKiB},
                                           {24 * kMiB, 64 * kKiB},
                                           {41 * kMiB, 4 * kKiB}};
  EXPECT_EQ(changes_now(), reflink_ranges_text(expected));
  // The new reference is the image as it was when it was taken.
  EXPECT_EQ(testing::first_difference(path_, fs_->file(place_.fresh)), std::nullopt);
}

TEST_P(ReflinkOnFs, APunchedHoleIsAChangeAndAHoleInBothIsNot) {
  take_and_keep();
  image_->hole(2 * kMiB, 64 * kKiB).hole(12 * kMiB, 64 * kKiB);
  EXPECT_EQ(changes_now(), reflink_ranges_text({{2 * kMiB, 64 * kKiB}}));
}

TEST_P(ReflinkOnFs, AnUnchangedImageHasNoChanges) {
  {
    NewReference first = take();
    EXPECT_EQ(open_kept_reference(place_, first).refused, "there is no kept reference yet");
    ASSERT_TRUE(keep_reference(place_, first).is_ok());
  }
  EXPECT_EQ(changes_now(), "");
}

TEST_P(ReflinkOnFs, AnImageEndingInAPartialBlockEndsItsLastChangeThere) {
  const std::string odd = fs_->file("odd.img");
  testing::SparseImage image(odd, 8 * kMiB + 1000);
  image.data(0, 8 * kMiB + 1000, 4);
  use(odd);
  take_and_keep();
  image.data(8 * kMiB + 990, 10, 5);
  EXPECT_EQ(changes_now(), reflink_ranges_text({{8 * kMiB, 1000}}));
}

// 2048 extents, four FIEMAP batches in each reference, every third one
// rewritten: both walks cross batch ends out of step.
TEST_P(ReflinkOnFs, ManyExtentsAreComparedAcrossBatches) {
  const std::string frag = fs_->file("frag.img");
  testing::SparseImage image(frag, kReflinkImageSize);
  constexpr uint64_t kBlocks = 2048;
  for (uint64_t i = 0; i < kBlocks; ++i) image.data(i * 16 * kKiB, 4 * kKiB, 1);
  use(frag);
  take_and_keep();
  std::vector<ByteRange> expected;
  for (uint64_t i = 0; i < kBlocks; i += 3) {
    image.data(i * 16 * kKiB, 4 * kKiB, 2);
    expected.push_back({i * 16 * kKiB, 4 * kKiB});
  }
  image.data(60 * kMiB, 4 * kKiB, 2);
  expected.push_back({60 * kMiB, 4 * kKiB});
  EXPECT_EQ(changes_now(), reflink_ranges_text(expected));
}

TEST_P(ReflinkOnFs, KeepDiscardAndRemoveLeaveExactlyTheirNames) {
  const std::string kept = ".disk.img.sparsync-ref";
  const std::string fresh = ".disk.img.sparsync-ref-new";
  ReferenceIdentity kept_identity;
  {
    NewReference a = take();
    EXPECT_EQ(names(), (std::vector<std::string>{fresh, "disk.img"}));
    // Another run of the same image and target meanwhile is refused, and
    // takes nothing from this one.
    auto again = take_reference(place_);
    EXPECT_EQ(again.status().kind(), ErrorKind::kSource);
    EXPECT_EQ(again.status().message(), "refusing to take a reflink reference: " + fs_->file(fresh) +
                                            " belongs to another sparsync run of this image and target, still "
                                            "going; wait for it to finish");
    EXPECT_EQ(a.identity, reflink_identity_of(fs_->file(fresh)));
    auto id = keep_reference(place_, a);
    ASSERT_TRUE(id.is_ok()) << id.status().message();
    EXPECT_EQ(names(), (std::vector<std::string>{kept, "disk.img"}));
    kept_identity = id.value();
    EXPECT_EQ(kept_identity, reflink_identity_of(fs_->file(kept)));  // as it is after the rename
  }
  {
    NewReference b = take();
    EXPECT_EQ(names(), (std::vector<std::string>{kept, fresh, "disk.img"}));
    KeptReference k = open_kept_reference(place_, b);
    EXPECT_EQ(k.refused, "");
    EXPECT_TRUE(k.fd.valid());
    EXPECT_EQ(k.identity, kept_identity);
    ASSERT_TRUE(discard_reference(place_, b).is_ok());
    EXPECT_EQ(names(), (std::vector<std::string>{kept, "disk.img"}));
  }
  // A run that died leaves its new reference; the next run takes its own.
  (void)take();
  EXPECT_EQ(names(), (std::vector<std::string>{kept, fresh, "disk.img"}));
  {
    NewReference c = take();
    EXPECT_EQ(c.identity, reflink_identity_of(fs_->file(fresh)));
    auto id = keep_reference(place_, c);
    ASSERT_TRUE(id.is_ok()) << id.status().message();
    EXPECT_NE(id.value(), kept_identity);
    EXPECT_EQ(names(), (std::vector<std::string>{kept, "disk.img"}));
  }
  (void)take();
  std::vector<std::string> left;
  ASSERT_TRUE(remove_references(place_, &left).is_ok());
  EXPECT_EQ(left, std::vector<std::string>{});
  EXPECT_EQ(names(), std::vector<std::string>{"disk.img"});
  ASSERT_TRUE(remove_references(place_, &left).is_ok());
  EXPECT_EQ(left, std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(Fs, ReflinkOnFs, ::testing::Values("xfs", "btrfs"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// Filesystems that cannot reflink: one line naming the image and the
// filesystem, kUsage, and nothing left behind.
struct ReflinkLessFs {
  std::string type;
  std::vector<std::string> mkfs_options;
  std::string shown;  // the name the message gives it
};

void PrintTo(const ReflinkLessFs& fs, std::ostream* out) {
  *out << fs.type << (fs.mkfs_options.empty() ? "" : " (options)");
}

class ReflinkUnsupported : public ::testing::TestWithParam<ReflinkLessFs> {};

TEST_P(ReflinkUnsupported, TakingAReferenceFailsWithOneLine) {
  std::string why;
  auto fs = testing::ScratchFilesystem::make(GetParam().type, kReflinkScratchSize, &why, GetParam().mkfs_options);
  if (fs == nullptr) GTEST_SKIP() << why;
  testing::SparseImage(fs->file("disk.img"), 4 * kMiB).data(0, 1 * kMiB);
  {
    auto place = reference_place(fs->file("disk.img"));
    ASSERT_TRUE(place.is_ok()) << place.status().message();
    auto r = take_reference(place.value());
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().kind(), ErrorKind::kUsage);
    EXPECT_EQ(r.status().message(), "cannot take a reflink copy of " + fs->file("disk.img") + " on " +
                                        GetParam().shown +
                                        " (Operation not supported); --changes reflink needs XFS (reflink=1) or "
                                        "btrfs; use --changes digest");
  }
  std::vector<std::string> names = reflink_sorted_names(fs->path());
  std::erase(names, "lost+found");
  EXPECT_EQ(names, std::vector<std::string>{"disk.img"});
}

INSTANTIATE_TEST_SUITE_P(Fs, ReflinkUnsupported,
                         ::testing::Values(ReflinkLessFs{"ext4", {}, "ext4"}, ReflinkLessFs{"tmpfs", {}, "tmpfs"},
                                           ReflinkLessFs{"xfs", {"-m", "reflink=0"}, "xfs"}),
                         [](const ::testing::TestParamInfo<ReflinkLessFs>& p) {
                           return p.param.type + (p.param.mkfs_options.empty() ? "" : "NoReflink");
                         });

TEST(ReflinkChanges, FailWhereTheFilesystemHasNoExtentMap) {
  std::string why;
  auto fs = testing::ScratchFilesystem::make("tmpfs", 16 * kMiB, &why);
  if (fs == nullptr) GTEST_SKIP() << why;
  testing::SparseImage(fs->file("a"), 1 * kMiB).data(0, 4 * kKiB);
  testing::SparseImage(fs->file("b"), 1 * kMiB).data(0, 4 * kKiB);
  Status s;
  {
    UniqueFd a(::open(fs->file("a").c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd b(::open(fs->file("b").c_str(), O_RDONLY | O_CLOEXEC));
    ChangeList changes;
    s = changed_extents(a.get(), b.get(), 1 * kMiB, &changes);
  }
  EXPECT_EQ(s.kind(), ErrorKind::kSource);
  EXPECT_EQ(s.message(), "cannot map the extents of the kept reflink reference (FIEMAP): Operation not supported");
}

}  // namespace
}  // namespace sparsync
