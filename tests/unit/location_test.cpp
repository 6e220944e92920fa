// How SOURCE/TARGET arguments are sorted into local paths and remote
// [user@]host:path locations (scp's rules), and how a pair becomes a request.
#include "app/location.h"

#include <gtest/gtest.h>

namespace sparsync {
namespace {

Location parse(const std::string& arg) {
  auto r = parse_location(arg);
  EXPECT_TRUE(r.is_ok()) << arg << ": " << r.status().message();
  return r.value();
}

TEST(Location, PlainPathsAreLocal) {
  for (const char* arg : {"disk.img", "/dev/sdb", "./x:y", "../a:b", "dir/a:b", "/abs/host:path", ":odd"}) {
    Location l = parse(arg);
    EXPECT_FALSE(l.remote) << arg;
    EXPECT_EQ(l.path, arg);
  }
}

TEST(Location, HostColonPathIsRemote) {
  Location l = parse("backup-host:/dev/vg0/vm1");
  EXPECT_TRUE(l.remote);
  EXPECT_EQ(l.host, "backup-host");
  EXPECT_EQ(l.user, "");
  EXPECT_EQ(l.path, "/dev/vg0/vm1");
}

TEST(Location, UserAtHost) {
  Location l = parse("admin@dr.example.org:images/vm.img");
  EXPECT_TRUE(l.remote);
  EXPECT_EQ(l.user, "admin");
  EXPECT_EQ(l.host, "dr.example.org");
  EXPECT_EQ(l.path, "images/vm.img");
}

TEST(Location, BracketedIpv6) {
  Location l = parse("[::1]:/tmp/a:b");
  EXPECT_TRUE(l.remote);
  EXPECT_EQ(l.host, "::1");
  EXPECT_EQ(l.path, "/tmp/a:b");
  Location u = parse("root@[fe80::1%eth0]:/x");
  EXPECT_EQ(u.user, "root");
  EXPECT_EQ(u.host, "fe80::1%eth0");
  EXPECT_EQ(u.path, "/x");
}

TEST(Location, PathKeepsEverythingAfterTheFirstColon) {
  Location l = parse("h:a b:$(c)*");
  EXPECT_EQ(l.host, "h");
  EXPECT_EQ(l.path, "a b:$(c)*");
}

TEST(Location, MalformedRemotesAreUsageErrors) {
  for (const char* arg : {"host:", "@host:/x", "[::1/x", "[::1]/x", "user@:/x"}) {
    auto r = parse_location(arg);
    ASSERT_FALSE(r.is_ok()) << arg;
    EXPECT_EQ(r.status().kind(), ErrorKind::kUsage) << arg;
  }
}

TEST(ResolveLocations, PushPullAndBothRemote) {
  CliOptions o;
  o.ssh_port = 2222;
  o.ssh_login = "fallback";
  SyncRequest push{.source = "a.img", .target = "u@h:/b.img"};
  RemoteSide far;
  ASSERT_TRUE(resolve_locations(o, &push, &far).is_ok());
  EXPECT_FALSE(push.pull);
  EXPECT_EQ(push.target, "/b.img");
  EXPECT_TRUE(far.remote);
  EXPECT_EQ(far.ssh.host, "h");
  EXPECT_EQ(far.ssh.user, "u");
  EXPECT_EQ(far.ssh.port, 2222);

  SyncRequest pull{.source = "h:/dev/sdb", .target = "./sdb.img"};
  RemoteSide far2;
  ASSERT_TRUE(resolve_locations(o, &pull, &far2).is_ok());
  EXPECT_TRUE(pull.pull);
  EXPECT_EQ(pull.source, "/dev/sdb");
  EXPECT_EQ(far2.ssh.user, "fallback");

  SyncRequest local{.source = "a", .target = "b"};
  RemoteSide none;
  ASSERT_TRUE(resolve_locations(o, &local, &none).is_ok());
  EXPECT_FALSE(none.remote);

  SyncRequest both{.source = "h1:/a", .target = "h2:/b"};
  RemoteSide x;
  Status s = resolve_locations(o, &both, &x);
  EXPECT_EQ(s.kind(), ErrorKind::kUsage);
}

}  // namespace
}  // namespace sparsync
