// A running VM's dirty bitmap over NBD, with qemu-storage-daemon as the VM
// (the test machines have none): driven over QMP as libvirt drives QEMU for
// a pull-mode backup, it opens a qcow2 image read-write, adds a persistent
// bitmap, and exports the disk with that bitmap on a Unix socket; qemu-io
// writes through the export as the guest would. NbdSource::connect_uri with
// the bitmap's name then reports exactly the written extents; another name
// is reported missing, not a failure; and the image itself is refused in
// one line while the "VM" runs, and holds the bitmap consistent after it
// quits. Skipped, with the reason, where a tool is missing.
#include <gtest/gtest.h>

#include <signal.h>

#include <nlohmann/json.hpp>

#include "source/nbd_source.h"
#include "source/qcow2_bitmap.h"
#include "support/byte_range_print.h"
#include "support/command.h"
#include "support/files.h"
#include "support/process.h"
#include "support/qemu_tools.h"
#include "support/qmp_client.h"
#include "support/sizes.h"

namespace sparsync::testing {
namespace {

constexpr uint64_t kVmDiskSize = 64 * kMiB;
constexpr uint64_t kVmGranule = 64 * kKiB;
const std::string kExportBitmap = "backup-vda";

class BitmapExport : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = qemu_utils_missing(); !missing.empty()) GTEST_SKIP() << missing;
    if (!have_program("qemu-storage-daemon")) {
      GTEST_SKIP() << "qemu-storage-daemon missing (Debian: qemu-system-common)";
    }
    image_ = dir_.file("vm.qcow2");
    CommandResult r =
        run_command({"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", image_, std::to_string(kVmDiskSize)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string monitor = dir_.file("qmp.sock");
    daemon_ = Process::start({"/usr/bin/qemu-storage-daemon", "--chardev",
                              "socket,id=qmp0,path=" + monitor + ",server=on,wait=off", "--monitor", "chardev=qmp0"});
    std::string error;
    qmp_ = QmpClient::connect(monitor, 10, &error);
    ASSERT_NE(qmp_, nullptr) << error << " " << daemon_->stderr_so_far();
    // What libvirt asks of QEMU for a pull-mode backup, less the scratch
    // overlay: the disk node, its bitmap, an NBD server, the export.
    const std::string socket = dir_.file("nbd.sock");
    execute("blockdev-add",
            {{"driver", "qcow2"}, {"node-name", "disk0"}, {"file", {{"driver", "file"}, {"filename", image_}}}});
    execute("block-dirty-bitmap-add",
            {{"node", "disk0"}, {"name", kExportBitmap}, {"persistent", true}, {"granularity", kVmGranule}});
    execute("nbd-server-start", {{"addr", {{"type", "unix"}, {"data", {{"path", socket}}}}}});
    execute("block-export-add", {{"type", "nbd"},
                                 {"id", "export0"},
                                 {"node-name", "disk0"},
                                 {"name", "vda"},
                                 {"writable", true},
                                 {"bitmaps", {kExportBitmap}}});
    uri_ = "nbd+unix:///vda?socket=" + socket;
  }
  void TearDown() override { quit(); }

  void execute(const std::string& command, const nlohmann::json& arguments) {
    QmpClient::Reply reply = qmp_->execute(command, arguments);
    ASSERT_TRUE(reply.ok) << command << ": " << reply.error;
  }
  // Ends the daemon as a VM shuts down: it stores its bitmaps and closes the
  // image.
  void quit() {
    if (qmp_ == nullptr || daemon_ == nullptr || !daemon_->running()) return;
    (void)qmp_->execute("quit");
    EXPECT_TRUE(daemon_->wait(10).has_value()) << "qemu-storage-daemon did not quit";
    qmp_.reset();
  }
  void write(uint64_t offset, uint64_t length) { ASSERT_EQ(qemu_io_write(uri_, "raw", offset, length), ""); }

  TempDir dir_;
  std::string image_, uri_;
  std::unique_ptr<Process> daemon_;
  std::unique_ptr<QmpClient> qmp_;
};

TEST_F(BitmapExport, ARunningVmsExportReportsExactlyItsWrites) {
  write(kMiB, 64 * kKiB);
  write(7 * kMiB + 512, kKiB);              // inside one granule
  write(63 * kMiB + 32 * kKiB, 64 * kKiB);  // across two
  auto source = NbdSource::connect_uri(uri_, 60, kExportBitmap);
  ASSERT_TRUE(source.is_ok()) << source.status().message();
  ASSERT_TRUE(source.value()->has_dirty_bitmap());
  ChangeList dirty;
  ASSERT_TRUE(source.value()->dirty_ranges(&dirty).is_ok());
  const std::vector<ByteRange> expected{{kMiB, kVmGranule}, {7 * kMiB, kVmGranule}, {63 * kMiB, 2 * kVmGranule}};
  EXPECT_EQ(dirty.ranges(), expected);
  // The data itself reads as the guest wrote it.
  std::vector<uint8_t> block(4096);
  ASSERT_TRUE(source.value()->read_at(kMiB, block.data(), block.size()).is_ok());
  EXPECT_EQ(block, std::vector<uint8_t>(4096, 7));
}

// The whole command against the running "VM": sparsync --changes
// bitmap:backup-vda reads the export, the second night only what the guest
// wrote since the export's bitmap began (the bitmap of a handed export is
// its maker's to rotate: here it only grows, a superset).
TEST_F(BitmapExport, SparsyncReadsOnlyTheDirtyRangesOfARunningVmsExport) {
  ::setenv("SPARSYNC_STATE_DIR", dir_.file("state").c_str(), 1);
  const std::string target = dir_.file("dr.img");
  auto night = [&] {
    CommandResult r = run_sparsync({"--json", "--changes", "bitmap:" + kExportBitmap, uri_, target});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << r.out << r.err;
      return nlohmann::json::object();
    }
  };
  write(kMiB, 64 * kKiB);
  nlohmann::json first = night();
  EXPECT_EQ(first.value("change_source", ""), "full");
  write(40 * kMiB, 128 * kKiB);
  nlohmann::json second = night();
  ::unsetenv("SPARSYNC_STATE_DIR");
  EXPECT_EQ(second.value("change_source", ""), "bitmap:" + kExportBitmap);
  EXPECT_EQ(second.value("bytes_read", 0u), 64 * kKiB + 128 * kKiB) << "both writes, nothing else";
  EXPECT_EQ(second.value("data_bytes", 0u), 128 * kKiB);
  // The target holds what the guest sees: compare through the export.
  auto source = NbdSource::connect_uri(uri_, 60);
  ASSERT_TRUE(source.is_ok()) << source.status().message();
  std::vector<uint8_t> guest(kVmDiskSize);
  ASSERT_TRUE(source.value()->read_at(0, guest.data(), guest.size()).is_ok());
  EXPECT_EQ(read_all(target), guest);
}

TEST_F(BitmapExport, ABitmapTheExportDoesNotOfferIsReportedNotFatal) {
  write(kMiB, 4 * kKiB);
  auto source = NbdSource::connect_uri(uri_, 60, "backup-vdb");
  ASSERT_TRUE(source.is_ok()) << source.status().message();
  EXPECT_FALSE(source.value()->has_dirty_bitmap());
  ChangeList dirty;
  Status s = source.value()->dirty_ranges(&dirty);
  EXPECT_EQ(s.kind(), ErrorKind::kSource);
  EXPECT_EQ(s.message(), "the NBD export " + uri_ +
                             " does not offer the dirty bitmap backup-vdb (no meta context "
                             "qemu:dirty-bitmap:backup-vdb)");
  EXPECT_EQ(source.value()->size(), kVmDiskSize) << "the export itself is still read";
}

// qemu-img cannot open an image a VM holds read-write; the bitmaps it shows
// with --force-share are in-use while the VM runs, which is no crash. Once
// the VM shuts down they are stored consistent.
TEST_F(BitmapExport, TheImageIsRefusedWhileTheVmRunsAndHoldsTheBitmapAfter) {
  write(2 * kMiB, 64 * kKiB);
  auto prep = prepare_bitmap(image_, kExportBitmap);
  ASSERT_FALSE(prep.is_ok());
  EXPECT_EQ(prep.status().kind(), ErrorKind::kSource);
  EXPECT_EQ(prep.status().message(),
            image_ +
                " is in use by another program (a running VM, or a qemu-nbd serving it): qemu-img: Could not open '" +
                image_ +
                "': Failed to get shared \"write\" lock; a running VM is read through its backup export "
                "(docs/libvirt-incremental.md)");
  quit();
  auto bitmap = inspect_bitmap(image_, kExportBitmap);
  ASSERT_TRUE(bitmap.is_ok()) << bitmap.status().message();
  ASSERT_TRUE(bitmap.value().has_value());
  EXPECT_EQ(*bitmap.value(), (Qcow2Bitmap{kExportBitmap, kVmGranule, true, false}));
  auto ranges = image_dirty_ranges(image_, kExportBitmap);
  ASSERT_TRUE(ranges.is_ok()) << ranges.status().message();
  EXPECT_EQ(ranges.value(), (std::vector<ByteRange>{{2 * kMiB, kVmGranule}}));
  auto ready = prepare_bitmap(image_, kExportBitmap);
  ASSERT_TRUE(ready.is_ok()) << ready.status().message();
  EXPECT_EQ(ready.value().state, BitmapState::kReady);
}

}  // namespace
}  // namespace sparsync::testing
