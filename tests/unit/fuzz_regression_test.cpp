// Regression tests for what the fuzzers found (scripts/fuzz). Each replays
// the shape of a reproducer through the same path the fuzz target takes
// (tests/fuzz/server_input.h, then run_server), so a fix to the harness or
// to the server is held to.
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "app/server_fence.h"
#include "common/log.h"
#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"
#include "common/unique_fd.h"
#include "fuzz/server_input.h"
#include "support/files.h"

namespace sparsync {
namespace {

using fuzz::append_frame;
using proto::MsgType;

// The frames of `bytes` by type, walking the headers as a peer would.
std::vector<MsgType> frame_types(const std::vector<uint8_t>& bytes) {
  std::vector<MsgType> types;
  size_t pos = 0;
  while (pos + proto::kFrameHeaderSize <= bytes.size()) {
    proto::FrameHeader header;
    if (!proto::decode_header(bytes.data() + pos, &header).is_ok()) break;
    types.push_back(header.type);
    pos += proto::kFrameHeaderSize + header.length;
  }
  return types;
}

// The OPEN inside a confined stream, decoded.
proto::Open open_of(const std::vector<uint8_t>& stream) {
  size_t pos = 0;
  while (pos + proto::kFrameHeaderSize <= stream.size()) {
    proto::FrameHeader header;
    EXPECT_TRUE(proto::decode_header(stream.data() + pos, &header).is_ok());
    const uint8_t* payload = stream.data() + pos + proto::kFrameHeaderSize;
    if (header.type == MsgType::kOpen) {
      proto::Open open;
      EXPECT_TRUE(proto::decode(std::vector<uint8_t>(payload, payload + header.length), &open).is_ok());
      return open;
    }
    pos += proto::kFrameHeaderSize + header.length;
  }
  ADD_FAILURE() << "no OPEN in the stream";
  return {};
}

// A pull session as the fuzzer's seed has it, with the OPEN's rate cap set.
std::vector<uint8_t> pull_with_bwlimit(uint64_t bwlimit) {
  for (auto& [name, seed] : fuzz::session_seeds()) {
    if (name != "pull") continue;
    proto::Open open = open_of(seed);
    open.bwlimit = bwlimit;
    std::vector<uint8_t> rebuilt;
    append_frame(&rebuilt, MsgType::kHello,
                 proto::encode(proto::Hello{proto::kProtocolVersion, proto::kFeaturesOffered, "sparsync fuzz"}));
    append_frame(&rebuilt, MsgType::kOpen, proto::encode(open));
    // The seed's frames after HELLO and OPEN, unchanged.
    size_t pos = 0;
    for (int skipped = 0; skipped < 2; ++skipped) {
      proto::FrameHeader header;
      EXPECT_TRUE(proto::decode_header(seed.data() + pos, &header).is_ok());
      pos += proto::kFrameHeaderSize + header.length;
    }
    rebuilt.insert(rebuilt.end(), seed.begin() + static_cast<std::ptrdiff_t>(pos), seed.end());
    return rebuilt;
  }
  ADD_FAILURE() << "session_seeds() has no pull seed";
  return {};
}

TEST(FuzzRegression, ConfineKeepsNoRateCapAndLiftsTinyOnes) {
  const std::string target = "/fuzz/target.img", source = "/fuzz/source.img";
  for (uint64_t asked : {uint64_t{0}, uint64_t{1}, uint64_t{1024}, fuzz::kMinFuzzBwlimit - 1, fuzz::kMinFuzzBwlimit,
                         uint64_t{5} << 30}) {
    std::vector<uint8_t> in = pull_with_bwlimit(asked);
    proto::Open open = open_of(fuzz::confine(in.data(), in.size(), target, source));
    EXPECT_EQ(open.path, source);
    if (asked == 0) {
      EXPECT_EQ(open.bwlimit, 0u) << "no cap must stay no cap";
    } else {
      EXPECT_GE(open.bwlimit, fuzz::kMinFuzzBwlimit) << "asked " << asked;
      if (asked >= fuzz::kMinFuzzBwlimit) {
        EXPECT_EQ(open.bwlimit, asked);
      }
    }
  }
}

// The fuzzer's timeout of 2026-11-30: a pull whose OPEN asked for a few
// bytes per second slept in RateLimiter::acquire for hours. Through confine()
// the same session sends its DATA and DONE (a hang here is ctest's timeout).
TEST(FuzzRegression, PullWithATinyRateCapFinishesThroughConfine) {
  log::set_level(log::Level::kError);
  testing::TempDir dir;
  testing::SparseImage(dir.file("source.img"), 256 * 1024).data(0, 8192, 3);
  std::vector<uint8_t> raw = pull_with_bwlimit(1);
  std::vector<uint8_t> input = fuzz::confine(raw.data(), raw.size(), dir.file("target.img"), dir.file("source.img"));

  UniqueFd in(::memfd_create("fuzz-input", MFD_CLOEXEC));
  UniqueFd out(::memfd_create("fuzz-output", MFD_CLOEXEC));
  ASSERT_TRUE(in.valid() && out.valid());
  ASSERT_EQ(::write(in.get(), input.data(), input.size()), static_cast<ssize_t>(input.size()));
  ::lseek(in.get(), 0, SEEK_SET);
  ServerFence fence{{dir.path()}, false, false};
  (void)run_server(in.get(), out.get(), fence);

  std::vector<MsgType> types = frame_types(testing::read_all("/proc/self/fd/" + std::to_string(out.get())));
  ASSERT_GE(types.size(), 3u);
  EXPECT_EQ(types[0], MsgType::kHello);
  // The server's idle timeout, announced before it answers OPEN (PROTOCOL.md §4.16).
  EXPECT_EQ(types[1], MsgType::kKeepalive);
  EXPECT_EQ(types[2], MsgType::kOpenOk);
  EXPECT_NE(std::find(types.begin(), types.end(), MsgType::kData), types.end()) << "the changed blocks were not sent";
  EXPECT_NE(std::find(types.begin(), types.end(), MsgType::kDone), types.end()) << "the pull did not reach DONE";
}

}  // namespace
}  // namespace sparsync
