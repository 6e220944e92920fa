#include "support/undo_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/checkpoint_store.h"
#include "common/undo_generations.h"
#include "support/process.h"

namespace sparsync::testing {

std::string journal_of(const std::string& target) {
  auto slash = target.rfind('/');
  return target.substr(0, slash + 1) + undo_journal_name(target.substr(slash + 1));
}

std::string generation_of(const std::string& target, uint64_t seq) {
  auto slash = target.rfind('/');
  return target.substr(0, slash + 1) + generation_name(undo_journal_name(target.substr(slash + 1)), seq);
}

bool wait_until_unlocked(const std::string& path, double seconds) {
  return wait_until(
      [&] {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return true;  // nothing there to hold
        // Taken and dropped at once: a sync or rollback that starts now is not kept out for long.
        const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
        ::close(fd);
        return free;
      },
      seconds);
}

}  // namespace sparsync::testing
