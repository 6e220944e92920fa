// One derivation of a session from OPEN (app/session_settings.h): what the
// client asks for reaches both hosts' engines through the OPEN as encoded on
// the wire, and the client and the server derive the same settings from it.
#include "app/session_settings.h"

#include <gtest/gtest.h>

#include "common/proto/frame_codec.h"

namespace sparsync {
namespace {

constexpr uint64_t kAllFeatures = proto::kFeaturesOffered;

// The OPEN as the far side decodes it.
proto::Open over_the_wire(const proto::Open& sent) {
  proto::Open received;
  EXPECT_TRUE(proto::decode(proto::encode(sent), &received).is_ok());
  return received;
}

proto::OpenOk open_ok_over_the_wire(const proto::OpenOk& sent) {
  proto::OpenOk received;
  EXPECT_TRUE(proto::decode(proto::encode(sent), &received).is_ok());
  return received;
}

// Every option that travels in OPEN set to a value other than its default.
SyncRequest unusual_request() {
  SyncRequest r;
  r.source = "/img/src.raw";
  r.target = "/img/dst.raw";
  r.block_size = 256 * 1024;
  r.hash_kind = proto::HashKind::kSha256;
  r.allow_larger_target = true;
  r.restart = true;
  r.verify = true;
  r.force = true;
  r.retry = true;
  r.checkpoint_bytes = 8ull << 20;
  r.checkpoint_seconds = 7;
  r.bwlimit = 5 << 20;
  r.compress_level = 3;
  return r;
}

TEST(SessionSettings, APushsTargetGetsEveryOptionTheClientWasGiven) {
  const SyncRequest r = unusual_request();
  proto::Open open = open_request(r, proto::Role::kServerIsTarget, kAllFeatures);
  open.source_size = 123456789;
  open.source_id = "dev=1 ino=2";
  open.has_source_facts = true;
  open.source_mode = 0640;
  const proto::Open far = over_the_wire(open);

  EXPECT_EQ(session_params(far), session_params(open));
  EXPECT_EQ(session_params(far), (SessionParams{.image_size = 123456789,
                                                .block_size = 256 * 1024,
                                                .hash_kind = proto::HashKind::kSha256,
                                                .dry_run = false,
                                                .verify = true}));
  EXPECT_EQ(target_open_request(far), (TargetOpenRequest{.source_size = 123456789,
                                                         .dry_run = false,
                                                         .allow_larger_target = true,
                                                         .source_id = "dev=1 ino=2",
                                                         .block_size = 256 * 1024,
                                                         .hash_kind = proto::HashKind::kSha256,
                                                         .restart = true,
                                                         .force = true,
                                                         .retry = true,
                                                         .source_mode = 0640}));
  EXPECT_EQ(far.path, "/img/dst.raw");
  // The client's own source runs with what it sent.
  EXPECT_EQ(source_options(open, kAllFeatures), (SourceSessionOptions{.checkpoint_bytes = 8ull << 20,
                                                                      .checkpoint_seconds = 7,
                                                                      .checkpoints = true,
                                                                      .bwlimit = 5 << 20,
                                                                      .compress_level = 3,
                                                                      .stop_requests = false}));
}

TEST(SessionSettings, BothHostsOfAPullDeriveTheSameSession) {
  SyncRequest r = unusual_request();
  r.dry_run = true;
  r.verify = false;
  const proto::Open client_open = open_request(r, proto::Role::kServerIsSource, kAllFeatures);
  EXPECT_EQ(client_open.path, "/img/src.raw");
  const proto::Open server_open = over_the_wire(client_open);
  // The server opens the source and tells its facts in OPEN_OK.
  proto::OpenOk ok;
  ok.size = 987654321;
  ok.source_id = "dev=3 ino=4";
  ok.source_mode = 0600;
  ok.path = "/img/src.raw";
  const proto::Open server_agreed = with_source_facts(server_open, ok, kAllFeatures);
  const proto::Open client_agreed = with_source_facts(client_open, open_ok_over_the_wire(ok), kAllFeatures);

  EXPECT_EQ(session_params(client_agreed), session_params(server_agreed));
  EXPECT_EQ(session_params(client_agreed).image_size, 987654321u);
  EXPECT_TRUE(session_params(client_agreed).dry_run);
  const TargetOpenRequest target = target_open_request(client_agreed);
  EXPECT_EQ(target.source_size, 987654321u);
  EXPECT_EQ(target.source_id, "dev=3 ino=4");
  EXPECT_EQ(target.source_mode, 0600u);
  EXPECT_TRUE(target.dry_run && target.restart && target.force && target.retry && target.allow_larger_target);
  // The server's source takes the client's cadence, rate and level, and
  // listens for STOP: a pull's client sends it on a signal.
  const SourceSessionOptions far_source = source_options(server_agreed, kAllFeatures);
  EXPECT_EQ(far_source.checkpoint_bytes, 8ull << 20);
  EXPECT_EQ(far_source.checkpoint_seconds, 7);
  EXPECT_EQ(far_source.bwlimit, 5u << 20);
  EXPECT_EQ(far_source.compress_level, 3);
  EXPECT_TRUE(far_source.stop_requests);
  const OpenedTarget opened;
  EXPECT_TRUE(target_session_input(client_agreed, kAllFeatures, opened).stop_source);
  EXPECT_EQ(target_session_input(client_agreed, kAllFeatures, opened).params, session_params(server_agreed));
}

TEST(SessionSettings, WithoutAFeatureItsSettingIsOff) {
  SyncRequest r = unusual_request();
  const uint64_t old_peer = proto::kFeaturesOffered & ~(proto::kFeatureZstd | proto::kFeatureStop |
                                                        proto::kFeatureSourceFacts | proto::kFeatureCheckpoint);
  const proto::Open open = open_request(r, proto::Role::kServerIsSource, old_peer);
  EXPECT_EQ(open.compress_level, 0) << "an older peer without zstd gets plain DATA";
  // A level that arrives anyway is not used where zstd was not negotiated.
  proto::Open compressed = open;
  compressed.compress_level = 9;
  const SourceSessionOptions options = source_options(compressed, old_peer);
  EXPECT_EQ(options.compress_level, 0);
  EXPECT_FALSE(options.stop_requests);
  EXPECT_FALSE(options.checkpoints);
  proto::OpenOk ok;
  ok.size = 4096;
  ok.source_mode = 0600;
  EXPECT_EQ(target_open_request(with_source_facts(open, ok, old_peer)).source_mode, 0u)
      << "source modes are applied only where the source-facts feature says the peer sends them";
  EXPECT_FALSE(target_session_input(open, old_peer, OpenedTarget{}).stop_source);
}

TEST(SessionSettings, AHostileCadenceIsRaisedToTheFloors) {
  proto::Open open = open_request(unusual_request(), proto::Role::kServerIsSource, kAllFeatures);
  open.checkpoint_bytes = 1;
  open.checkpoint_seconds = 0;
  const SourceSessionOptions options = source_options(over_the_wire(open), kAllFeatures);
  EXPECT_EQ(options.checkpoint_bytes, 1u << 20);
  EXPECT_EQ(options.checkpoint_seconds, 1.0);
}

TEST(SessionSettings, APushsSourceDoesNotTakeStopFromItsServer) {
  const proto::Open open = open_request(unusual_request(), proto::Role::kServerIsTarget, kAllFeatures);
  EXPECT_FALSE(source_options(open, kAllFeatures).stop_requests);
  EXPECT_FALSE(target_session_input(open, kAllFeatures, OpenedTarget{}).stop_source);
}

TEST(SessionSettings, EachOpenFlagComesFromItsOwnOption) {
  struct Case {
    bool SyncRequest::*option;
    bool TargetOpenRequest::*setting;
  };
  for (Case c :
       {Case{&SyncRequest::dry_run, &TargetOpenRequest::dry_run},
        Case{&SyncRequest::allow_larger_target, &TargetOpenRequest::allow_larger_target},
        Case{&SyncRequest::restart, &TargetOpenRequest::restart}, Case{&SyncRequest::force, &TargetOpenRequest::force},
        Case{&SyncRequest::retry, &TargetOpenRequest::retry}}) {
    SyncRequest r;
    r.block_size = 65536;
    r.*c.option = true;
    const TargetOpenRequest on =
        target_open_request(over_the_wire(open_request(r, proto::Role::kServerIsTarget, kAllFeatures)));
    EXPECT_TRUE(on.*c.setting);
    // ... and no other flag.
    TargetOpenRequest only = on;
    only.*c.setting = false;
    EXPECT_EQ(only, TargetOpenRequest{.block_size = 65536});
  }
  SyncRequest r;
  r.verify = true;
  EXPECT_TRUE(session_params(over_the_wire(open_request(r, proto::Role::kServerIsTarget, kAllFeatures))).verify);
}

}  // namespace
}  // namespace sparsync
