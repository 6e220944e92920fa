// LaneListener (transport/lane_listener.h) in a directory someone else can change:
// the sudo caller owns the lane directory once it is handed over, and may
// rename it away and plant a symlink at its name; removing the socket and the
// directory must not follow it into a directory of someone else's.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "support/files.h"
#include "transport/lane_listener.h"

namespace sparsync {
namespace {

using testing::TempDir;

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(LaneListenerSafety, RemovalDoesNotFollowASymlinkPlantedAtTheDirectorysName) {
  TempDir outside;
  std::string victim = outside.file("s");  // the socket's name, in another directory
  std::ofstream(victim) << "precious";
  auto created = LaneListener::create();
  ASSERT_TRUE(created.is_ok()) << created.status().message();
  std::unique_ptr<LaneListener> listener = created.take();
  std::string dir = listener->offer().path.substr(0, listener->offer().path.rfind('/'));
  std::string moved = outside.file("moved-away");
  ASSERT_EQ(::rename(dir.c_str(), moved.c_str()), 0);
  ASSERT_EQ(::symlink(outside.path().c_str(), dir.c_str()), 0);

  listener.reset();

  EXPECT_EQ(file_bytes(victim), "precious");
  struct stat st {};
  EXPECT_EQ(::lstat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the planted name is not ours to remove";
  // The socket went from the directory it was made in, wherever that is now.
  EXPECT_NE(::access((moved + "/s").c_str(), F_OK), 0);
  ::unlink(dir.c_str());
}

TEST(LaneListenerSafety, TheSocketIsMadeInTheDirectoryTheOfferNames) {
  auto created = LaneListener::create();
  ASSERT_TRUE(created.is_ok()) << created.status().message();
  const std::string& path = created.value()->offer().path;
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0) << path;
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  std::string dir = path.substr(0, path.rfind('/'));
  ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  created.value().reset();
  EXPECT_NE(::access(dir.c_str(), F_OK), 0) << "directory left behind";
}

}  // namespace
}  // namespace sparsync
