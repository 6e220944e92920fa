// A qcow2 image's dirty bitmap, read and kept (source/qcow2_bitmap.h,
// NbdSource::serve_qcow2 with a bitmap and dirty_ranges), with the real
// qemu-img, qemu-io and qemu-nbd (skipped, with the reason, where one is
// missing): the dirty ranges are exactly the written extents at the
// bitmap's granularity; prepare creates, keeps, or recreates what a crash
// left in-use, and touches the image only when it must; retire leaves NAME
// holding exactly the writes since prepare; a locked or foreign image is
// refused in one line.
#include <gtest/gtest.h>

#include <signal.h>

#include "source/nbd_source.h"
#include "source/qcow2_bitmap.h"
#include "support/byte_range_print.h"
#include "support/command.h"
#include "support/files.h"
#include "support/process.h"
#include "support/qemu_tools.h"
#include "support/sizes.h"
#include "support/unix_socket.h"

namespace sparsync::testing {
namespace {

// Not a multiple of the granularity: the last dirty range is clipped.
constexpr uint64_t kBitmapImageSize = 64 * kMiB + 4 * kKiB;
constexpr uint64_t kGranule = 64 * kKiB;
const std::string kNightly = "nightly";

class Qcow2Bitmaps : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = qemu_utils_missing(); !missing.empty()) GTEST_SKIP() << missing;
    image_ = dir_.file("vm.qcow2");
    CommandResult r =
        run_command({"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", image_, std::to_string(kBitmapImageSize)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // qemu-img bitmap OPS... image name, as a user would run it.
  void bitmap(const std::vector<std::string>& ops, const std::string& name) {
    std::vector<std::string> argv{"/usr/bin/qemu-img", "bitmap"};
    argv.insert(argv.end(), ops.begin(), ops.end());
    for (const std::string& a : {std::string("-f"), std::string("qcow2"), image_, name}) argv.push_back(a);
    CommandResult r = run_command(argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void write(uint64_t offset, uint64_t length) { ASSERT_EQ(qemu_io_write(image_, "qcow2", offset, length), ""); }
  std::vector<ByteRange> dirty(const std::string& name) {
    auto ranges = image_dirty_ranges(image_, name);
    EXPECT_TRUE(ranges.is_ok()) << ranges.status().message();
    return ranges.is_ok() ? ranges.value() : std::vector<ByteRange>{};
  }
  Qcow2Bitmap bitmap_named(const std::string& name) {
    auto b = inspect_bitmap(image_, name);
    EXPECT_TRUE(b.is_ok()) << b.status().message();
    EXPECT_TRUE(b.is_ok() && b.value().has_value()) << "no bitmap " << name;
    return b.is_ok() && b.value() ? *b.value() : Qcow2Bitmap{};
  }

  TempDir dir_;
  std::string image_;
};

// The reply carries base:allocation's extents too, where a hole has flags
// 3 (bit 0 set): taken by mistake, every hole would read as dirty.
TEST_F(Qcow2Bitmaps, DirtyRangesAreExactlyTheWrittenExtentsAtTheGranularity) {
  bitmap({"--add", "-g", std::to_string(kGranule)}, kNightly);
  write(kMiB, 64 * kKiB);                   // one whole granule
  write(10 * kMiB + 4 * kKiB, 100 * kKiB);  // widened to two granules
  write(20 * kMiB, 64 * kKiB);              // two neighbours: one range
  write(20 * kMiB + 64 * kKiB, 64 * kKiB);
  write(64 * kMiB, 4 * kKiB);  // the image's last 4 KiB
  const std::vector<ByteRange> expected{
      {kMiB, kGranule}, {10 * kMiB, 2 * kGranule}, {20 * kMiB, 2 * kGranule}, {64 * kMiB, 4 * kKiB}};
  EXPECT_EQ(dirty(kNightly), expected);
}

// The walk asks 2 GiB at a time: a dirty range across a request's end comes
// back in two pieces and is one range again in the list.
TEST_F(Qcow2Bitmaps, AWalkOverSeveralRequestsMissesNothing) {
  constexpr uint64_t kGiB = 1024 * kMiB;
  image_ = dir_.file("big.qcow2");
  CommandResult r = run_command({"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", image_, std::to_string(5 * kGiB)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  bitmap({"--add", "-g", std::to_string(kGranule)}, kNightly);
  write(2 * kGiB - 4 * kKiB, 8 * kKiB);
  write(4 * kGiB + 512 * kMiB, 4 * kKiB);
  write(5 * kGiB - 4 * kKiB, 4 * kKiB);
  const std::vector<ByteRange> expected{
      {2 * kGiB - kGranule, 2 * kGranule}, {4 * kGiB + 512 * kMiB, kGranule}, {5 * kGiB - kGranule, kGranule}};
  EXPECT_EQ(dirty(kNightly), expected);
}

TEST_F(Qcow2Bitmaps, ABitmapTheExportLacksLeavesTheImageReadableAndSaysWhy) {
  write(kMiB, 4 * kKiB);
  auto source = NbdSource::serve_qcow2(image_, 60, "absent");
  ASSERT_TRUE(source.is_ok()) << source.status().message();
  EXPECT_FALSE(source.value()->has_dirty_bitmap());
  ChangeList dirty;
  Status s = source.value()->dirty_ranges(&dirty);
  EXPECT_EQ(s.kind(), ErrorKind::kSource);
  EXPECT_EQ(s.message(), "qemu-nbd refused the dirty bitmap absent of " + image_ + " (missing or inconsistent)");
  EXPECT_TRUE(dirty.empty());
  std::vector<uint8_t> block(4096);
  ASSERT_TRUE(source.value()->read_at(kMiB, block.data(), block.size()).is_ok());
  EXPECT_EQ(block, std::vector<uint8_t>(4096, 7));

  auto plain = NbdSource::serve_qcow2(image_, 60);
  ASSERT_TRUE(plain.is_ok()) << plain.status().message();
  EXPECT_FALSE(plain.value()->has_dirty_bitmap());
  EXPECT_EQ(plain.value()->dirty_ranges(&dirty).message(), "no dirty bitmap was asked for from " + image_);
}

TEST_F(Qcow2Bitmaps, PrepareCreatesThenFindsItReadyWithoutTouchingTheImage) {
  auto first = prepare_bitmap(image_, kNightly);
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  EXPECT_EQ(first.value().state, BitmapState::kCreated);
  EXPECT_EQ(first.value().reason,
            "bitmap nightly did not exist in " + image_ + "; created now, so this run compares in full");
  EXPECT_EQ(first.value().granularity, kGranule);
  EXPECT_TRUE(first.value().image_changed);
  auto all = list_bitmaps(image_);
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  const std::vector<Qcow2Bitmap> expected{{"nightly", kGranule, true, false},
                                          {"nightly.sparsync-next", kGranule, true, false}};
  EXPECT_EQ(all.value(), expected);

  const int64_t ctime = ctime_ns(image_);
  const int64_t mtime = mtime_ns(image_);
  auto second = prepare_bitmap(image_, kNightly);
  ASSERT_TRUE(second.is_ok()) << second.status().message();
  EXPECT_EQ(second.value().state, BitmapState::kReady);
  EXPECT_EQ(second.value().reason, "");
  EXPECT_FALSE(second.value().image_changed);
  EXPECT_EQ(ctime_ns(image_), ctime) << "an image with nothing to change is not opened for writing";
  EXPECT_EQ(mtime_ns(image_), mtime);
}

TEST_F(Qcow2Bitmaps, PrepareUsesTheGranularityAskedForOnlyForANewBitmap) {
  auto prep = prepare_bitmap(image_, kNightly, 128 * kKiB);
  ASSERT_TRUE(prep.is_ok()) << prep.status().message();
  EXPECT_EQ(bitmap_named("nightly").granularity, 128 * kKiB);
  EXPECT_EQ(bitmap_named("nightly.sparsync-next").granularity, 128 * kKiB);
  // An existing NAME keeps its own; a helper that differs from it is made anew.
  bitmap({"--remove"}, "nightly.sparsync-next");
  bitmap({"--add", "-g", "65536"}, "nightly.sparsync-next");
  auto again = prepare_bitmap(image_, kNightly, 4 * kKiB);
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  EXPECT_EQ(again.value().state, BitmapState::kReady);
  EXPECT_EQ(again.value().granularity, 128 * kKiB);
  EXPECT_EQ(bitmap_named("nightly.sparsync-next").granularity, 128 * kKiB);
}

// A read-write qemu-nbd killed with SIGKILL never closes the image: qemu
// marked its bitmaps in-use when it opened it, and refuses them since.
TEST_F(Qcow2Bitmaps, PrepareRecreatesWhatACrashedWriterLeftInUse) {
  ASSERT_TRUE(prepare_bitmap(image_, kNightly).is_ok());
  const std::string socket = dir_.file("rw.sock");
  auto writer = Process::start({"/usr/bin/qemu-nbd", "--persistent", "--format=qcow2", "--socket=" + socket, image_});
  ASSERT_TRUE(wait_until([&] { return unix_socket_listening(socket); }, 10)) << writer->stderr_so_far();
  ASSERT_EQ(qemu_io_write("nbd+unix:///?socket=" + socket, "raw", 2 * kMiB, 64 * kKiB), "");
  ASSERT_TRUE(writer->signal(SIGKILL));
  ASSERT_TRUE(writer->wait(10).has_value());
  EXPECT_TRUE(bitmap_named("nightly").in_use);
  EXPECT_TRUE(bitmap_named("nightly.sparsync-next").in_use);
  {
    auto refused = NbdSource::serve_qcow2(image_, 60, kNightly);
    ASSERT_TRUE(refused.is_ok()) << refused.status().message();
    EXPECT_FALSE(refused.value()->has_dirty_bitmap()) << "qemu refuses an in-use bitmap";
  }

  auto prep = prepare_bitmap(image_, kNightly);
  ASSERT_TRUE(prep.is_ok()) << prep.status().message();
  EXPECT_EQ(prep.value().state, BitmapState::kRecreated);
  EXPECT_EQ(prep.value().reason, "bitmap nightly of " + image_ +
                                     " was left in-use by a writer that never closed the image (killed, or the "
                                     "host crashed), so writes may be missing from it; created again, so this run "
                                     "compares in full");
  EXPECT_EQ(bitmap_named("nightly"), (Qcow2Bitmap{"nightly", kGranule, true, false}));
  EXPECT_EQ(bitmap_named("nightly.sparsync-next"), (Qcow2Bitmap{"nightly.sparsync-next", kGranule, true, false}));
  CommandResult check = run_command({"/usr/bin/qemu-img", "check", "-q", "-f", "qcow2", image_});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(dirty(kNightly), std::vector<ByteRange>{}) << "a new bitmap marks nothing";
  write(3 * kMiB, 4 * kKiB);
  EXPECT_EQ(dirty(kNightly), (std::vector<ByteRange>{{3 * kMiB, kGranule}}));
}

TEST_F(Qcow2Bitmaps, PrepareRecreatesADisabledBitmap) {
  bitmap({"--add", "--disable", "-g", "65536"}, kNightly);
  auto prep = prepare_bitmap(image_, kNightly);
  ASSERT_TRUE(prep.is_ok()) << prep.status().message();
  EXPECT_EQ(prep.value().state, BitmapState::kRecreated);
  EXPECT_EQ(prep.value().reason, "bitmap nightly of " + image_ +
                                     " is disabled (by hand, or by an interrupted rotation), so writes may be "
                                     "missing from it; created again, so this run compares in full");
  EXPECT_TRUE(bitmap_named("nightly").enabled);
}

// Writes before prepare belong to this run's ranges; writes after it (while
// the run reads) to the next run's.
TEST_F(Qcow2Bitmaps, RetireLeavesExactlyTheWritesSincePrepare) {
  bitmap({"--add", "-g", "65536"}, kNightly);
  write(kMiB, 4 * kKiB);  // before: this run reads it
  auto prep = prepare_bitmap(image_, kNightly);
  ASSERT_TRUE(prep.is_ok()) << prep.status().message();
  ASSERT_EQ(prep.value().state, BitmapState::kReady);
  EXPECT_EQ(dirty(kNightly), (std::vector<ByteRange>{{kMiB, kGranule}}));
  write(5 * kMiB, 128 * kKiB);  // during the run
  ASSERT_TRUE(retire_bitmap(image_, kNightly).is_ok());

  EXPECT_EQ(dirty(kNightly), (std::vector<ByteRange>{{5 * kMiB, 2 * kGranule}}));
  auto all = list_bitmaps(image_);
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  EXPECT_EQ(all.value(), (std::vector<Qcow2Bitmap>{{"nightly", kGranule, true, false}}))
      << "the helper is gone and NAME records on";
  write(9 * kMiB, 4 * kKiB);
  EXPECT_EQ(dirty(kNightly), (std::vector<ByteRange>{{5 * kMiB, 2 * kGranule}, {9 * kMiB, kGranule}}));
}

// A run that failed leaves its helper; the next prepare keeps it (it began
// earlier, so it holds more), and NAME still holds everything.
TEST_F(Qcow2Bitmaps, AHelperAFailedRunLeftIsKept) {
  ASSERT_TRUE(prepare_bitmap(image_, kNightly).is_ok());
  write(kMiB, 4 * kKiB);  // during the failed run
  auto again = prepare_bitmap(image_, kNightly);
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  EXPECT_EQ(again.value().state, BitmapState::kReady);
  EXPECT_FALSE(again.value().image_changed);
  write(2 * kMiB, 4 * kKiB);  // during the run that completes
  ASSERT_TRUE(retire_bitmap(image_, kNightly).is_ok());
  EXPECT_EQ(dirty(kNightly), (std::vector<ByteRange>{{kMiB, kGranule}, {2 * kMiB, kGranule}}));
}

TEST_F(Qcow2Bitmaps, RetireWithoutItsHelperKeepsNameAsItWas) {
  bitmap({"--add", "-g", "65536"}, kNightly);
  write(kMiB, 4 * kKiB);
  Status s = retire_bitmap(image_, kNightly);
  EXPECT_EQ(s.kind(), ErrorKind::kSource);
  EXPECT_EQ(s.message(), "cannot rotate bitmap nightly of " + image_ +
                             ": its helper nightly.sparsync-next is missing; bitmap nightly is kept as it was, and "
                             "the next run reads more than it must");
  EXPECT_EQ(dirty(kNightly), (std::vector<ByteRange>{{kMiB, kGranule}}));
}

TEST_F(Qcow2Bitmaps, AnImageAnotherProgramHoldsIsRefusedInOneLine) {
  // A read-only qemu-nbd lets qemu-img read the image but not change it.
  const std::string socket = dir_.file("ro.sock");
  auto reader = Process::start(
      {"/usr/bin/qemu-nbd", "--read-only", "--persistent", "--format=qcow2", "--socket=" + socket, image_});
  ASSERT_TRUE(wait_until([&] { return unix_socket_listening(socket); }, 10)) << reader->stderr_so_far();
  auto prep = prepare_bitmap(image_, kNightly);
  ASSERT_FALSE(prep.is_ok());
  EXPECT_EQ(prep.status().kind(), ErrorKind::kSource);
  EXPECT_EQ(prep.status().message(),
            image_ +
                " is in use by another program (a running VM, or a qemu-nbd serving it): qemu-img: Could not open '" +
                image_ +
                "': Failed to get \"write\" lock; a running VM is read through its backup export "
                "(docs/libvirt-incremental.md)");
  reader->signal(SIGTERM);
  ASSERT_TRUE(reader->wait(10).has_value());
  auto list = list_bitmaps(image_);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  EXPECT_TRUE(list.value().empty()) << "nothing was changed";
}

TEST_F(Qcow2Bitmaps, AnImageThatIsNoQcow2IsRefusedInOneLine) {
  const std::string raw = dir_.file("plain.img");
  SparseImage(raw, kMiB).data(0, 4096);
  auto prep = prepare_bitmap(raw, kNightly);
  ASSERT_FALSE(prep.is_ok());
  EXPECT_EQ(prep.status().kind(), ErrorKind::kSource);
  EXPECT_EQ(prep.status().message(), "qemu-img failed reading " + raw + ": qemu-img: Could not open '" + raw +
                                         "': Image is not in qcow2 format");
}

TEST(Qcow2BitmapName, BadNamesAreUsageErrors) {
  EXPECT_EQ(check_bitmap_name("").message(), "--changes bitmap: needs a bitmap name (bitmap:NAME)");
  EXPECT_EQ(check_bitmap_name("a\nb").message(), "--changes bitmap: the bitmap name holds a control character");
  EXPECT_EQ(check_bitmap_name(std::string(992, 'x')).message(),
            "--changes bitmap: the bitmap name is longer than 991 bytes");
  EXPECT_EQ(check_bitmap_name(std::string(992, 'x')).kind(), ErrorKind::kUsage);
  EXPECT_TRUE(check_bitmap_name(std::string(991, 'x')).is_ok());
  EXPECT_TRUE(check_bitmap_name("-backup vda,1").is_ok());
  EXPECT_EQ(next_bitmap_name("backup-vda"), "backup-vda.sparsync-next");
}

}  // namespace
}  // namespace sparsync::testing
