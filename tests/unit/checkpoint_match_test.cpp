// Which checkpoint records resume a run (open_target's decision; PROTOCOL.md
// §4.1 and §6): only one naming this very source. A record resumes the run
// at its offset, so nothing below it is compared again: a wrong match is a
// target left different from its source with exit 0. In particular a source
// read from a stream (stdin) has no identity (empty source_id) and must be
// compared from the start on every run, even when an interrupted stdin run
// left a record whose size, block size and hash all match.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "common/checkpoint_store.h"
#include "common/device.h"
#include "support/files.h"
#include "support/sizes.h"
#include "target/target_open.h"

namespace sparsync {
namespace checkpoint_match {
namespace {

using testing::kMiB;

constexpr uint64_t kImageSize = 4 * kMiB;
constexpr uint32_t kBlockSize = 4096;

class CheckpointMatch : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::SparseImage img(target_, kImageSize);
    img.data(0, kImageSize, 3);
  }

  // The target's state as a record binds it (Device::current_identity).
  std::string target_state() {
    auto dev = FileDevice::open(target_, false, ErrorKind::kTarget);
    EXPECT_TRUE(dev.is_ok()) << dev.status().message();
    return dev.is_ok() ? dev.value()->current_identity() : std::string();
  }

  // Leaves the record an interrupted run of `recorded_id` would have left
  // (binding `recorded_target`, by default the target as it is), then opens
  // the target for a run of `source_id`; returns its resume offset.
  uint64_t resume_offset(const std::string& recorded_id, const std::string& source_id,
                         std::optional<std::string> recorded_target = std::nullopt) {
    CheckpointRecord rec;
    rec.source_id = recorded_id;
    rec.source_size = kImageSize;
    rec.block_size = kBlockSize;
    rec.hash_kind = proto::HashKind::kXxh3_128;
    rec.durable_offset = 2 * kMiB;
    rec.target_id = recorded_target ? *recorded_target : target_state();
    EXPECT_TRUE(save_checkpoint(checkpoint_path(target_, false), rec).is_ok());
    TargetOpenRequest req;
    req.source_size = kImageSize;
    req.source_id = source_id;
    req.block_size = kBlockSize;
    req.hash_kind = proto::HashKind::kXxh3_128;
    auto opened = open_target(req, target_);
    EXPECT_TRUE(opened.is_ok()) << opened.status().message();
    if (opened.is_ok()) ignored_ = opened.value().ignored;
    return opened.is_ok() ? opened.value().resume_offset : ~uint64_t{0};
  }

  CheckpointIgnored ignored_ = CheckpointIgnored::kNone;

  testing::TempDir dir_;
  std::string target_ = dir_.file("dst.img");
};

TEST_F(CheckpointMatch, TheSameSourceResumes) {
  // The control: this record does resume, so the cases below test the id.
  EXPECT_EQ(resume_offset("file:2049:131:4194304:1700000000", "file:2049:131:4194304:1700000000"), 2 * kMiB);
}

TEST_F(CheckpointMatch, AnotherSourceComparesFromTheStart) {
  EXPECT_EQ(resume_offset("file:2049:131:4194304:1700000000", "file:2049:132:4194304:1700000000"), 0u);
}

TEST_F(CheckpointMatch, StdinNeverResumesEvenFromAStdinRecord) { EXPECT_EQ(resume_offset("", ""), 0u); }

// Issue 15 item 5: the record binds the target's own state too.
TEST_F(CheckpointMatch, ATargetThatChangedSinceTheRecordComparesFromTheStart) {
  const std::string id = "file:2049:131:4194304:1700000000";
  std::string before = target_state();
  testing::SparseImage img(target_, kImageSize);  // rewritten behind sparsync's back
  img.data(0, kImageSize, 3);
  EXPECT_EQ(resume_offset(id, id, before), 0u);
  EXPECT_EQ(ignored_, CheckpointIgnored::kTargetChanged);
}

TEST_F(CheckpointMatch, ARecordThatDoesNotBindTheTargetNeverResumes) {
  const std::string id = "file:2049:131:4194304:1700000000";
  EXPECT_EQ(resume_offset(id, id, std::string()), 0u);
  EXPECT_EQ(ignored_, CheckpointIgnored::kOldFormat);
}

}  // namespace
}  // namespace checkpoint_match
}  // namespace sparsync
