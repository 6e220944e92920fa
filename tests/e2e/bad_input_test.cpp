// Bad input, table-driven, against the built binary (docs/usage.md "Exit codes",
// PROTOCOL.md §5). Two tables:
//  - command-line syncs whose source or target is wrong (missing, a
//    directory, unreadable, a read-only or full filesystem): the exit code,
//    exactly one line on stderr naming the path, and a target that is
//    unchanged or resumable;
//  - `sparsync --server` fed hand-made frames on stdin (encoded with
//    src/common/proto/messages.h): the exit code, the ERROR frame it answers with
//    (its code and a one-line reason), and the existing target unchanged.
// A source that shrinks mid-run and a target returning EIO are session-level
// (tests/unit/session_test.cpp, tests/unit/bad_input_session_test.cpp).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>

#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"
#include "support/command.h"
#include "support/files.h"
#include "support/sizes.h"

namespace sparsync::testing {
namespace {

using namespace proto;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// --- the command line ----------------------------------------------------

void expect_one_line_naming(const CommandResult& r, const std::string& what) {
  auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find(what), std::string::npos) << lines[0];
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.file("src.img");
    SparseImage(src_, 8 * kMiB).data(0, kMiB, 1).data(6 * kMiB, kMiB, 2);
  }
  // Mounts a tmpfs on a fresh directory; false (with the reason) when not
  // permitted here (no root, no mount namespace privileges).
  bool mount_tmpfs(const std::string& dir, const std::string& options, std::string* why) {
    ::mkdir(dir.c_str(), 0755);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      *why = "mount -t tmpfs -o " + options + " failed: " + std::strerror(errno);
      return false;
    }
    mounts_.push_back(dir);
    return true;
  }
  void TearDown() override {
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
  }
  TempDir dir_;
  std::string src_;
  std::vector<std::string> mounts_;
};

struct CliRow {
  const char* name;
  std::function<std::string(const TempDir&)> source;  // path of the source
  std::function<std::string(const TempDir&)> target;  // path of the target
  int exit_code;
};

TEST_F(BadInput, SourceAndTargetPaths) {
  const CliRow rows[] = {
      {"source missing", [](const TempDir& d) { return d.file("no-such.img"); },
       [](const TempDir& d) { return d.file("dst.img"); }, 3},
      {"source is a directory", [](const TempDir& d) { return d.path(); },
       [](const TempDir& d) { return d.file("dst.img"); }, 3},
      {"target directory missing", [](const TempDir& d) { return d.file("src.img"); },
       [](const TempDir& d) { return d.file("no-such-dir/dst.img"); }, 4},
      {"target is a directory", [](const TempDir& d) { return d.file("src.img"); },
       [](const TempDir& d) { return d.path(); }, 4},
  };
  for (const CliRow& row : rows) {
    SCOPED_TRACE(row.name);
    std::string src = row.source(dir_), dst = row.target(dir_);
    CommandResult r = run_sparsync({"--retries=0", src, dst});
    EXPECT_EQ(r.exit_code, row.exit_code) << r.err;
    expect_one_line_naming(r, row.exit_code == 3 ? src : dst);
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_FALSE(exists(dir_.file("dst.img"))) << "a target was created for a failed run";
}

TEST_F(BadInput, UnreadableSource) {
  // Root reads any file whatever its mode, so the run drops to nobody.
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) is not installed";
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run sparsync as nobody";
  ::chmod(dir_.path().c_str(), 0755);
  std::string out = dir_.file("out");
  ::mkdir(out.c_str(), 0777);
  ::chmod(out.c_str(), 0777);
  ::chmod(src_.c_str(), 0);
  CommandResult r = run_command({"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                 SPARSYNC_BINARY, "--retries=0", src_, out + "/dst.img"});
  if (r.exit_code == 127 || r.err.find("setpriv:") != std::string::npos) {
    GTEST_SKIP() << "cannot run as nobody here: " << r.err;
  }
  EXPECT_EQ(r.exit_code, 3) << r.err;
  expect_one_line_naming(r, src_);
  EXPECT_FALSE(exists(out + "/dst.img"));
}

TEST_F(BadInput, ReadOnlyTargetFilesystem) {
  std::string ro = dir_.file("ro");
  std::string why;
  if (!mount_tmpfs(ro, "size=4m", &why)) GTEST_SKIP() << why;
  write_all(ro + "/dst.img", std::vector<uint8_t>(64 * kKiB, 9));
  if (::mount("tmpfs", ro.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, "size=4m") != 0) {
    GTEST_SKIP() << "remounting the tmpfs read-only failed: " << std::strerror(errno);
  }
  for (const std::string& dst : {ro + "/dst.img", ro + "/new.img"}) {
    SCOPED_TRACE(dst);
    CommandResult r = run_sparsync({"--retries=0", src_, dst});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    expect_one_line_naming(r, dst);
  }
  EXPECT_EQ(read_all(ro + "/dst.img"), std::vector<uint8_t>(64 * kKiB, 9));
  EXPECT_FALSE(exists(ro + "/new.img"));
}

TEST_F(BadInput, FullTargetFilesystemFailsThenResumes) {
  std::string full = dir_.file("full");
  std::string why;
  if (!mount_tmpfs(full, "size=4m", &why)) GTEST_SKIP() << why;
  // 16 MiB of data does not fit in 4 MiB.
  std::string src = dir_.file("dense.img");
  SparseImage(src, 16 * kMiB).data(0, 16 * kMiB, 3);
  std::string dst = full + "/dst.img";
  CommandResult r = run_sparsync({"--retries=0", "--checkpoint-interval=1M", src, dst});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  expect_one_line_naming(r, dst);
  EXPECT_NE(r.err.find("space"), std::string::npos) << r.err;
  // Not reported as synced: a second run, with room, completes it.
  ASSERT_EQ(::mount("tmpfs", full.c_str(), "tmpfs", MS_REMOUNT, "size=64m"), 0) << std::strerror(errno);
  r = run_sparsync({"--retries=0", src, dst});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src, dst), std::nullopt);
}

// --- the server fed hand-made frames ---------------------------------------

class Frames {
 public:
  Frames& frame(MsgType type, const std::vector<uint8_t>& payload) {
    uint8_t h[kFrameHeaderSize];
    encode_header(type, static_cast<uint32_t>(payload.size()), h);
    return raw(std::vector<uint8_t>(h, h + kFrameHeaderSize)).raw(payload);
  }
  Frames& raw(const std::vector<uint8_t>& bytes) {
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  Frames& hello(uint16_t version = kProtocolVersion, uint64_t features = kFeaturesOffered) {
    return frame(MsgType::kHello, encode(Hello{version, features, "bad-input test"}));
  }
  // ROLLBACK's payload with `trim` bytes cut off its end (a torn frame),
  // `extra` appended and its to_kind byte set to `kind`.
  Frames& rollback(const std::string& path, uint8_t kind = 0, uint64_t value = 0, size_t trim = 0,
                   const std::vector<uint8_t>& extra = {}) {
    std::vector<uint8_t> p = encode(Rollback{RollbackToKind::kInterrupted, value, path});
    p[0] = kind;
    p.resize(p.size() - trim);
    p.insert(p.end(), extra.begin(), extra.end());
    return frame(MsgType::kRollback, p);
  }
  Frames& open(const std::string& path, uint64_t size, uint32_t block_size = 4096, Role role = Role::kServerIsTarget) {
    Open o;
    o.role = role;
    o.block_size = block_size;
    o.source_size = role == Role::kServerIsTarget ? size : 0;
    o.path = path;
    o.source_id = role == Role::kServerIsTarget ? "test:bad-input" : "";
    return frame(MsgType::kOpen, encode(o));
  }
  Frames& data(uint64_t offset, size_t len) {
    std::vector<uint8_t> p = encode_data_prefix(offset);
    p.insert(p.end(), len, 0x5a);
    return frame(MsgType::kData, p);
  }
  Frames& hole(uint64_t offset, uint64_t len) { return frame(MsgType::kHole, encode(Hole{offset, len})); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

std::vector<uint8_t> header(uint8_t type, uint8_t reserved, uint32_t length) {
  return {type,
          reserved,
          0,
          0,
          static_cast<uint8_t>(length),
          static_cast<uint8_t>(length >> 8),
          static_cast<uint8_t>(length >> 16),
          static_cast<uint8_t>(length >> 24)};
}

struct ServerRun {
  int exit_code = -1;
  std::string err;
  std::optional<proto::Error> error;  // the ERROR frame the server sent, if any
  std::vector<MsgType> types;         // every frame type it sent
};

// Runs `sparsync --server` with `input` as its stdin and parses its stdout.
ServerRun run_server_with(const TempDir& dir, const std::vector<uint8_t>& input) {
  std::string in = dir.file("server.in"), out = dir.file("server.out");
  write_all(in, input);
  CommandResult r = run_command({"/bin/sh", "-c", "exec \"$0\" --server <\"$1\" >\"$2\"", SPARSYNC_BINARY, in, out});
  ServerRun run{r.exit_code, r.err, std::nullopt, {}};
  std::vector<uint8_t> bytes = read_all(out);
  size_t pos = 0;
  while (pos + kFrameHeaderSize <= bytes.size()) {
    FrameHeader h;
    if (!decode_header(bytes.data() + pos, &h).is_ok() || pos + kFrameHeaderSize + h.length > bytes.size()) {
      ADD_FAILURE() << "the server wrote a bad frame at byte " << pos;
      break;
    }
    std::vector<uint8_t> payload(bytes.begin() + static_cast<std::ptrdiff_t>(pos + kFrameHeaderSize),
                                 bytes.begin() + static_cast<std::ptrdiff_t>(pos + kFrameHeaderSize + h.length));
    run.types.push_back(h.type);
    if (h.type == MsgType::kError) {
      proto::Error e;
      EXPECT_TRUE(decode(payload, &e).is_ok());
      EXPECT_FALSE(run.error.has_value()) << "a second ERROR frame";
      run.error = e;
    }
    pos += kFrameHeaderSize + h.length;
  }
  EXPECT_EQ(pos, bytes.size()) << "trailing bytes after the server's last frame";
  return run;
}

struct FrameRow {
  const char* name;
  std::function<Frames(const std::string& target)> input;
  int exit_code;
  const char* needle;  // in the ERROR message; nullptr when no ERROR is due
};

TEST_F(BadInput, ServerRejectsBadFrames) {
  const uint64_t size = 64 * kKiB;
  const std::vector<uint8_t> original = pattern_bytes(7, 0, size);
  const FrameRow rows[] = {
      {"not a HELLO first", [](auto&) { return Frames().frame(MsgType::kData, encode_data_prefix(0)); }, 6, "HELLO"},
      {"HELLO without the magic", [](auto&) { return Frames().frame(MsgType::kHello, std::vector<uint8_t>(30, 'x')); },
       6, ""},
      {"another protocol version", [](auto&) { return Frames().hello(kProtocolVersion + 1); }, 6, "version"},
      {"length over kMaxPayload", [](auto&) { return Frames().hello().raw(header(0x20, 0, kMaxPayload + 1)); }, 6, ""},
      {"unknown frame type", [](auto&) { return Frames().hello().raw(header(0x99, 0, 0)); }, 6, ""},
      {"non-zero reserved header byte", [](auto&) { return Frames().hello().raw(header(0x02, 1, 0)); }, 6, ""},
      {"DATA before OPEN", [](auto&) { return Frames().hello().data(0, 4096); }, 6, "OPEN"},
      {"block size 1000", [](auto& t) { return Frames().hello().open(t, 64 * kKiB, 1000); }, 6, "block size"},
      {"block size 8 MiB", [](auto& t) { return Frames().hello().open(t, 64 * kKiB, 8u << 20); }, 6, "block size"},
      {"block size 0", [](auto& t) { return Frames().hello().open(t, 64 * kKiB, 0); }, 6, "block size"},
      {"a second OPEN", [](auto& t) { return Frames().hello().open(t, 64 * kKiB).open(t, 64 * kKiB); }, 6, ""},
      {"DATA past the end", [](auto& t) { return Frames().hello().open(t, 64 * kKiB).data(64 * kKiB, 4096); }, 6, ""},
      {"DATA offset + length overflows",
       [](auto& t) { return Frames().hello().open(t, 64 * kKiB).data(kMax - 100, 4096); }, 6, ""},
      {"DATA with no bytes", [](auto& t) { return Frames().hello().open(t, 64 * kKiB).data(0, 0); }, 6, ""},
      {"HOLE near UINT64_MAX", [](auto& t) { return Frames().hello().open(t, 64 * kKiB).hole(kMax - 4095, 4096); }, 6,
       ""},
      {"HOLE offset + length overflows", [](auto& t) { return Frames().hello().open(t, 64 * kKiB).hole(4096, kMax); },
       6, ""},
      {"HOLE of length 0", [](auto& t) { return Frames().hello().open(t, 64 * kKiB).hole(0, 0); }, 6, ""},
      {"CHECKPOINT past the end",
       [](auto& t) {
         return Frames().hello().open(t, 64 * kKiB).frame(MsgType::kCheckpoint, encode(Checkpoint{1ull << 40}));
       },
       6, ""},
      {"CHECKPOINT off a block boundary",
       [](auto& t) { return Frames().hello().open(t, 64 * kKiB).frame(MsgType::kCheckpoint, encode(Checkpoint{100})); },
       6, ""},
      {"DONE whose counters do not match",
       [](auto& t) {
         return Frames()
             .hello()
             .open(t, 64 * kKiB)
             .frame(MsgType::kDone, encode(Done{64 * kKiB, 64 * kKiB, 64 * kKiB, 8192, 0, 0, 2}));
       },
       6, ""},
      {"DONE with another size",
       [](auto& t) {
         return Frames().hello().open(t, 64 * kKiB).frame(MsgType::kDone, encode(Done{kMax, kMax, 0, 0, 0, 0, 0}));
       },
       6, ""},
      {"peer closes after OPEN", [](auto& t) { return Frames().hello().open(t, 64 * kKiB); }, 5, nullptr},
      {"peer closes mid-frame",
       [](auto& t) {
         return Frames().hello().open(t, 64 * kKiB).raw(header(0x20, 0, 4104)).raw({1, 2, 3});
       },
       5, nullptr},
      {"target directory missing", [](auto& t) { return Frames().hello().open(t + ".d/x.img", 64 * kKiB); }, 4,
       ".d/x.img"},
      // ROLLBACK instead of OPEN (PROTOCOL.md §4.18 rule 2).
      {"ROLLBACK with to_kind 3", [](auto& t) { return Frames().hello().rollback(t, 3); }, 6, "to_kind"},
      {"ROLLBACK with to_kind 255", [](auto& t) { return Frames().hello().rollback(t, 255); }, 6, "to_kind"},
      {"ROLLBACK torn", [](auto& t) { return Frames().hello().rollback(t, 0, 0, 1); }, 6, "ROLLBACK"},
      {"ROLLBACK with a trailing byte", [](auto& t) { return Frames().hello().rollback(t, 0, 0, 0, {0}); }, 6,
       "ROLLBACK"},
      {"ROLLBACK without the feature negotiated",
       [](auto& t) { return Frames().hello(kProtocolVersion, kFeaturesOffered & ~kFeatureRollback).rollback(t); }, 6,
       "rollback feature"},
      {"ROLLBACK after OPEN", [](auto& t) { return Frames().hello().open(t, 64 * kKiB).rollback(t); }, 6, ""},
      {"ROLLBACK --to 1 with no kept generations", [](auto& t) { return Frames().hello().rollback(t, 1, 1); }, 4,
       "it keeps no generations"},
      {"ROLLBACK of a missing target", [](auto& t) { return Frames().hello().rollback(t + ".none"); }, 4,
       "does not exist"},
      {"ROLLBACK with nothing pending", [](auto& t) { return Frames().hello().rollback(t); }, 0, nullptr},
  };
  const std::string target = dir_.file("target.img");
  for (const FrameRow& row : rows) {
    SCOPED_TRACE(row.name);
    write_all(target, original);
    ::unlink(dir_.file(".target.img.sparsync-checkpoint").c_str());  // rows stay independent
    ServerRun run = run_server_with(dir_, row.input(target).bytes());
    EXPECT_EQ(run.exit_code, row.exit_code) << run.err;
    if (row.needle != nullptr) {
      if (!run.error) {
        ADD_FAILURE() << "no ERROR frame; stderr: " << run.err;
        continue;
      }
      EXPECT_EQ(static_cast<int>(run.error->code), row.exit_code);
      EXPECT_FALSE(run.error->message.empty());
      EXPECT_EQ(run.error->message.find('\n'), std::string::npos) << run.error->message;
      EXPECT_NE(run.error->message.find(row.needle), std::string::npos) << run.error->message;
    } else {
      EXPECT_FALSE(run.error.has_value()) << run.error->message;
    }
    EXPECT_LE(run.err.size() > 0 ? std::count(run.err.begin(), run.err.end(), '\n') : 0, 1) << run.err;
    EXPECT_EQ(read_all(target), original) << "the target changed";
  }
}

// A size past what 64-bit file offsets hold: refused with an ERROR, never a
// crash or a wrapped-around write.
TEST_F(BadInput, ServerRefusesSizesThatOverflow) {
  const std::string target = dir_.file("huge.img");
  for (uint64_t size : std::vector<uint64_t>{kMax, kMax - 4095, (1ull << 63) + 4096}) {
    SCOPED_TRACE(size);
    ServerRun run = run_server_with(dir_, Frames().hello().open(target, size).hole(size - 4096, 4096).bytes());
    EXPECT_NE(run.exit_code, 0) << run.err;
    EXPECT_TRUE(run.exit_code == 4 || run.exit_code == 6) << run.exit_code << " " << run.err;
    if (!run.error) {
      ADD_FAILURE() << "no ERROR frame; stderr: " << run.err;
      continue;
    }
    EXPECT_EQ(static_cast<int>(run.error->code), run.exit_code);
    EXPECT_EQ(run.error->message.find('\n'), std::string::npos) << run.error->message;
  }
}

// Pull: the server is the source and receives HASH batches.
TEST_F(BadInput, ServerAsSourceRejectsBadHashBatches) {
  const std::string source = dir_.file("pull-src.img");
  SparseImage(source, 64 * kKiB).data(0, 64 * kKiB, 4);
  auto start = [&] {
    return Frames().hello().open(source, 0, 4096, Role::kServerIsSource).frame(MsgType::kResume, encode(Resume{0}));
  };
  struct Row {
    const char* name;
    Frames input;
  } rows[] = {
      // count says 2 blocks, the digests are for 1.
      {"HASH count and digests disagree",
       start().frame(MsgType::kHash,
                     [] {
                       std::vector<uint8_t> p = encode(Hash{0, 1, std::vector<uint8_t>(16, 1)});
                       p[8] = 2;  // count, right after first_block
                       return p;
                     }())},
      {"HASH past the end", start().frame(MsgType::kHash, encode(Hash{1ull << 40, 1, std::vector<uint8_t>(16, 1)}))},
      {"HASH_ZERO overflowing", start().frame(MsgType::kHashZero, encode(HashZero{1, kMax}))},
      {"HASH_END with another block count", start().frame(MsgType::kHashEnd, encode(HashEnd{1000}))},
      {"DATA sent to a source", start().data(0, 4096)},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    ServerRun run = run_server_with(dir_, row.input.bytes());
    EXPECT_EQ(run.exit_code, 6) << run.err;
    if (!run.error) {
      ADD_FAILURE() << "no ERROR frame; stderr: " << run.err;
      continue;
    }
    EXPECT_EQ(run.error->code, ErrorCode::kProtocol) << run.error->message;
    EXPECT_EQ(run.error->message.find('\n'), std::string::npos) << run.error->message;
  }
}

// PROTOCOL.md §5: after its ERROR a party sends nothing more.
TEST_F(BadInput, ServerSendsNothingAfterItsError) {
  const std::string target = dir_.file("target.img");
  for (int i = 0; i < 20; ++i) {
    write_all(target, pattern_bytes(7, 0, 64 * kKiB));
    ::unlink(dir_.file(".target.img.sparsync-checkpoint").c_str());
    ServerRun run = run_server_with(dir_, Frames().hello().open(target, 64 * kKiB).data(64 * kKiB, 4096).bytes());
    EXPECT_EQ(run.exit_code, 6) << run.err;
    ASSERT_FALSE(run.types.empty());
    EXPECT_EQ(run.types.back(), MsgType::kError) << "frames after the ERROR (run " << i << ")";
  }
}

// A pull whose client (the target) opens with a RESUME past the image end.
TEST_F(BadInput, ServerAsSourceAnswersABadResumeWithError) {
  const std::string source = dir_.file("pull-src.img");
  SparseImage(source, 64 * kKiB).data(0, 64 * kKiB, 4);
  ServerRun run = run_server_with(dir_, Frames()
                                            .hello()
                                            .open(source, 0, 4096, Role::kServerIsSource)
                                            .frame(MsgType::kResume, encode(Resume{1ull << 40}))
                                            .bytes());
  EXPECT_EQ(run.exit_code, 6) << run.err;
  ASSERT_TRUE(run.error.has_value());
  EXPECT_EQ(run.error->code, ErrorCode::kProtocol);
}

}  // namespace
}  // namespace sparsync::testing
