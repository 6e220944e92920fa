// The order in which open_target changes the filesystem (PROTOCOL.md §4.1
// Order, §6 D5): the record that marks a target incomplete is in place before
// anything of the target changes, so no crash in between can leave a target
// that --status calls complete. Watched with inotify on the directory, which
// sees every create, rename and change in the order the kernel made them.
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/checkpoint_store.h"
#include "support/files.h"
#include "support/sizes.h"
#include "target/target_open.h"

namespace sparsync {
namespace {

using testing::kMiB;

// One line per inotify event on entries of a directory: "create NAME",
// "moved_to NAME", "modify NAME", "attrib NAME".
class DirectoryEvents {
 public:
  explicit DirectoryEvents(const std::string& dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    EXPECT_GE(fd_, 0);
    EXPECT_GE(::inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB), 0);
  }
  ~DirectoryEvents() { ::close(fd_); }
  std::vector<std::string> take() {
    std::vector<std::string> out;
    alignas(inotify_event) char buf[8192];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      for (char* p = buf; p < buf + n;) {
        auto* e = reinterpret_cast<inotify_event*>(p);
        std::string name = e->len > 0 ? e->name : "";
        if (e->mask & IN_CREATE) out.push_back("create " + name);
        if (e->mask & IN_MOVED_TO) out.push_back("moved_to " + name);
        if (e->mask & IN_MODIFY) out.push_back("modify " + name);
        if (e->mask & IN_ATTRIB) out.push_back("attrib " + name);
        p += sizeof(inotify_event) + e->len;
      }
    }
    return out;
  }

 private:
  int fd_;
};

size_t first_event(const std::vector<std::string>& events, const std::string& event) {
  for (size_t i = 0; i < events.size(); ++i)
    if (events[i] == event) return i;
  return events.size();
}

std::string joined(const std::vector<std::string>& events) {
  std::string s;
  for (const auto& e : events) s += e + "; ";
  return s;
}

TargetOpenRequest order_request(uint64_t size) {
  TargetOpenRequest r;
  r.source_size = size;
  r.source_id = "file:1:2:3:4:5";
  r.block_size = 4096;
  return r;
}

TEST(TargetOpenOrder, ANewTargetsNameAppearsOnlyAfterItsRecord) {
  testing::TempDir dir;
  DirectoryEvents events(dir.path());
  auto opened = open_target(order_request(4 * kMiB), dir.file("new.img"));
  ASSERT_TRUE(opened.is_ok()) << opened.status().message();
  auto seen = events.take();
  size_t record = first_event(seen, "moved_to " + record_name("new.img"));
  size_t target = first_event(seen, "create new.img");
  ASSERT_LT(record, seen.size()) << joined(seen);
  ASSERT_LT(target, seen.size()) << joined(seen);
  EXPECT_LT(record, target) << "the target's name appeared before its record: " << joined(seen);
}

TEST(TargetOpenOrder, AnExistingTargetChangesOnlyAfterItsRecord) {
  testing::TempDir dir;
  testing::SparseImage(dir.file("old.img"), 8 * kMiB).data(0, 8 * kMiB, 4);  // larger: truncated
  DirectoryEvents events(dir.path());
  auto opened = open_target(order_request(4 * kMiB), dir.file("old.img"));
  ASSERT_TRUE(opened.is_ok()) << opened.status().message();
  EXPECT_EQ(testing::file_size(dir.file("old.img")), 4 * kMiB);
  auto seen = events.take();
  size_t record = first_event(seen, "moved_to " + record_name("old.img"));
  size_t truncated = first_event(seen, "modify old.img");
  ASSERT_LT(record, seen.size()) << joined(seen);
  ASSERT_LT(truncated, seen.size()) << joined(seen);
  EXPECT_LT(record, truncated) << "the target was truncated before its record was written: " << joined(seen);
}

}  // namespace
}  // namespace sparsync
