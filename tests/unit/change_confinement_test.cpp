// Both engines confined to a change list (PROTOCOL.md §4.19), without a
// network: the target's hasher reports exactly the listed blocks (HASH,
// HASH_ZERO) and every other one, unread, as HASH_SKIP, in block order; and
// the source refuses a target that skips or hashes against the list, or
// skips at all when no list was accepted, before it sends anything.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "common/frame_io.h"
#include "common/proto/change_messages.h"
#include "common/proto/messages.h"
#include "source/source_session.h"
#include "support/fake_device.h"
#include "support/sizes.h"
#include "target/frame_outbox.h"
#include "target/target_hasher.h"

namespace sparsync {
namespace {

using testing::kKiB;
using testing::MemoryDevice;

constexpr uint32_t kConfinedBlock = 4096;
constexpr uint64_t kConfinedImage = 64 * kKiB;  // 16 blocks

SessionParams confined_params() {
  SessionParams p;
  p.image_size = kConfinedImage;
  p.block_size = kConfinedBlock;
  return p;
}

struct Report {
  proto::MsgType type;
  uint64_t first = 0, count = 0;
  bool operator==(const Report&) const = default;
};

// Runs the hasher over `device` with `only` and returns its frames.
std::vector<Report> hasher_reports(MemoryDevice& device, const std::vector<ByteRange>* only) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::vector<Report> reports;
  std::thread reader([&] {
    FrameReader in(fds[1]);
    Frame f;
    while (in.read(&f).is_ok()) {
      if (f.type == proto::MsgType::kHash) {
        proto::Hash h;
        EXPECT_TRUE(proto::decode(f.payload, 16, &h).is_ok());
        reports.push_back({f.type, h.first_block, h.count});
      } else if (f.type == proto::MsgType::kHashZero) {
        proto::HashZero z;
        EXPECT_TRUE(proto::decode(f.payload, &z).is_ok());
        reports.push_back({f.type, z.first_block, z.count});
      } else if (f.type == proto::MsgType::kHashSkip) {
        proto::HashSkip k;
        EXPECT_TRUE(proto::decode(f.payload, &k).is_ok());
        reports.push_back({f.type, k.first_block, k.count});
      } else if (f.type == proto::MsgType::kHashEnd) {
        reports.push_back({f.type, 0, 0});
        break;
      }
    }
  });
  {
    FrameWriter out(fds[0]);
    FrameOutbox outbox(out, 8);
    outbox.start();
    TargetHasher hasher(&device, confined_params(), 0, kConfinedImage, false, outbox, only);
    EXPECT_TRUE(hasher.run().is_ok());
    EXPECT_TRUE(outbox.close_and_flush().is_ok());
  }
  reader.join();
  ::close(fds[0]);
  ::close(fds[1]);
  return reports;
}

TEST(ChangeConfinement, TheTargetHashesOnlyTheListedBlocksAndSkipsTheRestUnread) {
  MemoryDevice device(kConfinedImage, ErrorKind::kTarget);
  device.fill_pattern(0, 8 * kConfinedBlock, 3);  // blocks 0-7 data, 8-15 zeros
  const std::vector<ByteRange> only{{2 * kConfinedBlock, 2 * kConfinedBlock}, {6 * kConfinedBlock, 4 * kConfinedBlock}};
  using T = proto::MsgType;
  const std::vector<Report> want{{T::kHashSkip, 0, 2}, {T::kHash, 2, 2},      {T::kHashSkip, 4, 2}, {T::kHash, 6, 2},
                                 {T::kHashZero, 8, 2}, {T::kHashSkip, 10, 6}, {T::kHashEnd, 0, 0}};
  EXPECT_EQ(hasher_reports(device, &only), want);
}

TEST(ChangeConfinement, AnEmptyListSkipsEverythingAndNoListHashesEverything) {
  MemoryDevice device(kConfinedImage, ErrorKind::kTarget);
  device.fill_pattern(0, 8 * kConfinedBlock, 3);
  const std::vector<ByteRange> none;
  using T = proto::MsgType;
  EXPECT_EQ(hasher_reports(device, &none), (std::vector<Report>{{T::kHashSkip, 0, 16}, {T::kHashEnd, 0, 0}}));
  EXPECT_EQ(hasher_reports(device, nullptr),
            (std::vector<Report>{{T::kHash, 0, 8}, {T::kHashZero, 8, 8}, {T::kHashEnd, 0, 0}}));
}

// A scripted target: RESUME, then `frames`, then it reads until the source
// gives up. Returns the source session's status and whether any DATA or
// HOLE reached the target.
struct Outcome {
  Status status;
  bool wrote = false;
};

Outcome against_target(const std::vector<Frame>& frames, const std::vector<ByteRange>* read_only) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Outcome o;
  std::thread target([&] {
    FrameWriter out(fds[1]);
    EXPECT_TRUE(out.write(proto::MsgType::kResume, proto::encode(proto::Resume{0})).is_ok());
    for (const Frame& f : frames) (void)out.write(f.type, f.payload);
    FrameReader in(fds[1]);
    Frame f;
    while (in.read(&f).is_ok()) {
      if (f.type == proto::MsgType::kData || f.type == proto::MsgType::kHole) o.wrote = true;
      if (f.type == proto::MsgType::kError) break;
    }
    ::shutdown(fds[1], SHUT_RDWR);
  });
  MemoryDevice source(kConfinedImage, ErrorKind::kSource);
  source.fill_pattern(0, kConfinedImage, 9);
  SourceSessionOptions options;
  options.read_only = read_only;
  FrameReader in(fds[0]);
  FrameWriter out(fds[0]);
  SourceSessionResult result;
  o.status = run_source_session(source, confined_params(), options, in, out, &result);
  ::shutdown(fds[0], SHUT_RDWR);
  target.join();
  ::close(fds[0]);
  ::close(fds[1]);
  return o;
}

Frame skip_frame(uint64_t first, uint64_t count) {
  return Frame{proto::MsgType::kHashSkip, proto::encode(proto::HashSkip{first, count})};
}

TEST(ChangeConfinement, TheSourceRefusesSkipsItDidNotAgreeTo) {
  // No list was accepted: a skip would leave blocks uncompared.
  Outcome unasked = against_target({skip_frame(0, 16)}, nullptr);
  EXPECT_EQ(unasked.status.kind(), ErrorKind::kProtocol) << unasked.status.message();
  EXPECT_FALSE(unasked.wrote);
  // Block 2 is listed: the target must hash it.
  const std::vector<ByteRange> list{{2 * kConfinedBlock, kConfinedBlock}};
  Outcome skipped = against_target({skip_frame(0, 16)}, &list);
  EXPECT_EQ(skipped.status.kind(), ErrorKind::kProtocol) << skipped.status.message();
  EXPECT_NE(skipped.status.message().find("which the change list holds"), std::string::npos)
      << skipped.status.message();
  EXPECT_FALSE(skipped.wrote);
  // Block 0 is not listed: the source never read it, so a digest of it is no use.
  Outcome hashed = against_target({Frame{proto::MsgType::kHashZero, proto::encode(proto::HashZero{0, 16})}}, &list);
  EXPECT_EQ(hashed.status.kind(), ErrorKind::kProtocol) << hashed.status.message();
  EXPECT_NE(hashed.status.message().find("which the change list leaves out"), std::string::npos)
      << hashed.status.message();
  EXPECT_FALSE(hashed.wrote);
}

}  // namespace
}  // namespace sparsync
