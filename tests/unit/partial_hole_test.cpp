// Holes that begin or end inside a block (issue 15, item 15). With a block
// larger than the filesystem's (4 KiB here), a block can be part hole and
// part data. Both sides map holes with SEEK_DATA/SEEK_HOLE and may skip only
// whole blocks of hole: the target hasher must hash such a block, not report
// it zero, and the source reader must read it, not pass it on as a hole. A
// hasher that rounded a hole's end up to the block boundary synced "16
// blocks unchanged", exited 0, and left the target different at byte 4097.
//
// Real sparse files with real holes (punched with fallocate), read through
// FileDevice. The hasher's reports are checked block by block against the
// file's bytes (zero block: HASH_ZERO, else the digest of the whole block);
// the reader's chunks must rebuild the file exactly (a hole chunk reads as
// zeros), start on block boundaries, and leave whole-block holes unread.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/block_hash.h"
#include "common/device.h"
#include "common/frame_io.h"
#include "common/proto/messages.h"
#include "source/source_reader.h"
#include "support/files.h"
#include "support/sizes.h"
#include "target/frame_outbox.h"
#include "target/target_hasher.h"

namespace sparsync {
namespace partial_hole {
namespace {

using testing::kKiB;
using testing::kMiB;
using testing::SparseImage;
using testing::TempDir;

constexpr uint64_t kFsBlock = 4 * kKiB;

// One layout: the image size and how to make it from a file that starts as
// one hole. `b` is the sync's block size.
struct Layout {
  const char* name;
  uint64_t (*size)(uint64_t b);
  void (*make)(SparseImage& img, uint64_t b);
};

const Layout kLayouts[] = {
    {"data after a hole inside a block", [](uint64_t b) { return 4 * b; },
     [](SparseImage& img, uint64_t b) { img.data(0, b, 1).data(b + kFsBlock, b - kFsBlock, 2).data(3 * b, b, 3); }},
    {"only the last 4 KiB of a block is data", [](uint64_t b) { return 3 * b; },
     [](SparseImage& img, uint64_t b) { img.data(2 * b - kFsBlock, kFsBlock, 4); }},
    {"a hole starting inside a block, to its end", [](uint64_t b) { return 4 * b; },
     [](SparseImage& img, uint64_t b) { img.data(0, 2 * b + kFsBlock, 5).data(3 * b, b, 6); }},
    {"a hole from inside one block to inside the next", [](uint64_t b) { return 5 * b; },
     [](SparseImage& img, uint64_t b) { img.data(0, b + kFsBlock, 7).data(2 * b + kFsBlock, 3 * b - kFsBlock, 8); }},
    {"holes in the middle of blocks only", [](uint64_t b) { return 3 * b; },
     [](SparseImage& img, uint64_t b) {
       img.data(0, 3 * b, 9).hole(kFsBlock, kFsBlock).hole(b + b / 2, kFsBlock).hole(3 * b - 2 * kFsBlock, kFsBlock);
     }},
    {"short last block: a hole, then data to the end", [](uint64_t b) { return 2 * b + b / 2 + 100; },
     [](SparseImage& img, uint64_t b) { img.data(0, b, 10).data(2 * b + kFsBlock, b / 2 + 100 - kFsBlock, 11); }},
    {"short last block: data, then a hole to the end", [](uint64_t b) { return 2 * b + b / 2 + 100; },
     [](SparseImage& img, uint64_t b) { img.data(2 * b, kFsBlock, 12); }},
    {"written zeros after a hole inside a block", [](uint64_t b) { return 3 * b; },
     [](SparseImage& img, uint64_t b) { img.data(0, b, 13).zeros(b + kFsBlock, b - kFsBlock).data(2 * b, b, 14); }},
};

struct Report {
  bool zero = false;
  std::vector<uint8_t> digest;
  bool operator==(const Report&) const = default;
};

std::string describe(const std::vector<std::optional<Report>>& reports) {
  std::string s;
  for (size_t i = 0; i < reports.size(); ++i) {
    s += std::to_string(i) + (!reports[i] ? ":none " : reports[i]->zero ? ":zero " : ":hash ");
  }
  return s;
}

// What a correct target reports for each block of `bytes` from `first` on.
std::vector<std::optional<Report>> expected_reports(const SessionParams& p, const std::vector<uint8_t>& bytes,
                                                    uint64_t first) {
  std::vector<std::optional<Report>> want(p.total_blocks());
  const size_t len = proto::hash_length(p.hash_kind);
  for (uint64_t b = first; b < p.total_blocks(); ++b) {
    const uint8_t* at = bytes.data() + b * p.block_size;
    Report r;
    r.zero = is_all_zero(at, p.block_length(b));
    if (!r.zero) {
      r.digest.resize(len);
      digest_block(p.hash_kind, at, p.block_length(b), r.digest.data());
    }
    want[b] = r;
  }
  return want;
}

// Runs the target hasher over `dev` and collects its reports per block; a
// block reported twice or a malformed frame fails the test.
std::vector<std::optional<Report>> hasher_reports(Device* dev, const SessionParams& p, uint64_t start,
                                                  uint64_t readable, uint64_t* hash_end) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0) << std::strerror(errno);
  std::vector<Frame> frames;
  std::thread collector([&] {
    FrameReader in(sv[1]);
    Frame f;
    while (in.read(&f).is_ok()) frames.push_back(f);
  });
  {
    FrameWriter out(sv[0]);
    FrameOutbox outbox(out, 64);
    outbox.start();
    TargetHasher hasher(dev, p, start, readable, false, outbox);
    Status s = hasher.run();
    EXPECT_TRUE(s.is_ok()) << s.message();
    EXPECT_TRUE(outbox.close_and_flush().is_ok());
    ::shutdown(sv[0], SHUT_WR);
  }
  collector.join();
  ::close(sv[0]);
  ::close(sv[1]);

  std::vector<std::optional<Report>> got(p.total_blocks());
  const size_t len = proto::hash_length(p.hash_kind);
  auto put = [&](uint64_t block, Report r) {
    if (block >= got.size() || got[block]) {
      ADD_FAILURE() << "block " << block << " reported twice or past the end";
      return;
    }
    got[block] = std::move(r);
  };
  *hash_end = ~uint64_t{0};
  for (const Frame& f : frames) {
    if (f.type == proto::MsgType::kHash) {
      proto::Hash h;
      EXPECT_TRUE(proto::decode(f.payload, len, &h).is_ok());
      for (uint32_t i = 0; i < h.count; ++i) {
        put(h.first_block + i,
            Report{false, std::vector<uint8_t>(h.digests.begin() + i * len, h.digests.begin() + (i + 1) * len)});
      }
    } else if (f.type == proto::MsgType::kHashZero) {
      proto::HashZero z;
      EXPECT_TRUE(proto::decode(f.payload, &z).is_ok());
      for (uint64_t i = 0; i < z.count; ++i) put(z.first_block + i, Report{true, {}});
    } else if (f.type == proto::MsgType::kHashEnd) {
      proto::HashEnd e;
      EXPECT_TRUE(proto::decode(f.payload, &e).is_ok());
      *hash_end = e.total_blocks;
    } else {
      ADD_FAILURE() << "unexpected frame " << proto::msg_type_name(f.type);
    }
  }
  return got;
}

struct Case {
  uint32_t block_size;
  proto::HashKind hash;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::to_string(info.param.block_size / kKiB) + "K_" +
         (info.param.hash == proto::HashKind::kSha256 ? "sha256" : "xxh3");
}

class PartialHole : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!testing::supports_holes(dir_.path())) {
      GTEST_SKIP() << "the filesystem of " << dir_.path() << " does not report holes (SEEK_DATA)";
    }
  }

  SessionParams params_for(uint64_t size) const {
    SessionParams p;
    p.image_size = size;
    p.block_size = GetParam().block_size;
    p.hash_kind = GetParam().hash;
    return p;
  }

  // Builds the layout as a real sparse file and opens it read-only.
  std::unique_ptr<FileDevice> build(const Layout& layout, std::vector<uint8_t>* bytes) {
    const uint64_t b = GetParam().block_size;
    SparseImage img(dir_.file("img"), layout.size(b));
    layout.make(img, b);
    *bytes = testing::read_all(img.path());
    auto opened = FileDevice::open(img.path(), false, ErrorKind::kTarget);
    EXPECT_TRUE(opened.is_ok()) << opened.status().message();
    return opened.is_ok() ? opened.take() : nullptr;
  }

  // The layouts must really hold holes that end or start inside a block,
  // or the cases test nothing.
  void expect_hole_inside_a_block(Device& dev) {
    const uint64_t b = GetParam().block_size;
    bool found = false;
    for (uint64_t pos = 0; pos < dev.size() && !found;) {
      Extent e;
      ASSERT_TRUE(dev.next_extent(pos, dev.size(), &e).is_ok());
      const uint64_t end = e.offset + e.length;
      if (e.hole && ((e.offset % b != 0) || (end % b != 0 && end != dev.size()))) found = true;
      pos = end;
    }
    EXPECT_TRUE(found) << "no hole starts or ends inside a block: the filesystem filled it in";
  }

  TempDir dir_;
};

TEST_P(PartialHole, TargetHasherReportsEachBlockByItsBytes) {
  for (const Layout& layout : kLayouts) {
    SCOPED_TRACE(layout.name);
    std::vector<uint8_t> bytes;
    auto dev = build(layout, &bytes);
    ASSERT_TRUE(dev);
    if (std::string(layout.name).find("written zeros") == std::string::npos) expect_hole_inside_a_block(*dev);
    const SessionParams p = params_for(bytes.size());
    uint64_t hash_end = 0;
    auto got = hasher_reports(dev.get(), p, 0, bytes.size(), &hash_end);
    auto want = expected_reports(p, bytes, 0);
    EXPECT_EQ(got, want) << "got  " << describe(got) << "\nwant " << describe(want);
    EXPECT_EQ(hash_end, p.total_blocks());
  }
}

TEST_P(PartialHole, TargetHasherFromAResumePointAndOverAGrownTail) {
  // Resumed at block 1, and the file held only its first 2.5 blocks before
  // it was grown (the bytes past that read as zeros, whatever is there).
  const uint64_t b = GetParam().block_size;
  for (const Layout& layout : kLayouts) {
    SCOPED_TRACE(layout.name);
    std::vector<uint8_t> bytes;
    auto dev = build(layout, &bytes);
    ASSERT_TRUE(dev);
    const uint64_t readable = std::min<uint64_t>(bytes.size(), 2 * b + b / 2);
    std::vector<uint8_t> seen = bytes;
    std::fill(seen.begin() + static_cast<std::ptrdiff_t>(readable), seen.end(), 0);
    const SessionParams p = params_for(bytes.size());
    uint64_t hash_end = 0;
    auto got = hasher_reports(dev.get(), p, b, readable, &hash_end);
    auto want = expected_reports(p, seen, 1);
    EXPECT_EQ(got, want) << "got  " << describe(got) << "\nwant " << describe(want);
    EXPECT_EQ(hash_end, p.total_blocks());
  }
}

TEST_P(PartialHole, SourceReaderReadsEveryBlockThatHoldsData) {
  for (const Layout& layout : kLayouts) {
    SCOPED_TRACE(layout.name);
    std::vector<uint8_t> bytes;
    auto dev = build(layout, &bytes);
    ASSERT_TRUE(dev);
    const SessionParams p = params_for(bytes.size());
    for (uint64_t start : {uint64_t{0}, uint64_t{p.block_size}}) {
      SCOPED_TRACE("from offset " + std::to_string(start));
      SourceReader reader(*dev, p, start);
      reader.start();
      std::vector<uint8_t> rebuilt(bytes.size(), 0);
      uint64_t pos = start, data_bytes = 0;
      while (auto c = reader.next()) {
        ASSERT_EQ(c->offset, pos) << "chunks must follow each other";
        ASSERT_EQ(c->offset % p.block_size, 0u) << "a chunk must start on a block boundary";
        ASSERT_LE(c->offset + c->length, bytes.size());
        const uint64_t end = c->offset + c->length;
        if (c->hole) {
          EXPECT_TRUE(end % p.block_size == 0 || end == bytes.size()) << "a hole chunk ends inside a block";
          EXPECT_TRUE(is_all_zero(bytes.data() + c->offset, c->length))
              << "hole chunk " << c->offset << "+" << c->length << " covers data";
        } else {
          ASSERT_EQ(c->data.size(), c->length);
          EXPECT_LE(c->length, SourceReader::chunk_bytes(p.block_size));
          std::memcpy(rebuilt.data() + c->offset, c->data.data(), c->length);
          data_bytes += c->length;
        }
        pos = end;
      }
      ASSERT_TRUE(reader.status().is_ok()) << reader.status().message();
      EXPECT_EQ(pos, bytes.size());
      std::fill(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(start), 0);
      EXPECT_TRUE(rebuilt == bytes) << "the chunks do not rebuild the file";
      EXPECT_EQ(reader.bytes_read(), data_bytes);
      // Exactly the blocks that hold data are read, whole: a block lying
      // entirely in a hole is never read, any other block always is.
      uint64_t want_read = 0;
      for (uint64_t blk = start / p.block_size; blk < p.total_blocks(); ++blk) {
        Extent e;
        const uint64_t from = blk * p.block_size;
        ASSERT_TRUE(dev->next_extent(from, from + p.block_length(blk), &e).is_ok());
        if (!(e.hole && e.length == p.block_length(blk))) want_read += p.block_length(blk);
      }
      EXPECT_EQ(data_bytes, want_read);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, PartialHole,
                         ::testing::Values(Case{8 * 1024, proto::HashKind::kXxh3_128},
                                           Case{64 * 1024, proto::HashKind::kXxh3_128},
                                           Case{64 * 1024, proto::HashKind::kSha256},
                                           Case{1024 * 1024, proto::HashKind::kXxh3_128},
                                           Case{1024 * 1024, proto::HashKind::kSha256}),
                         case_name);

}  // namespace
}  // namespace partial_hole
}  // namespace sparsync
