#include "common/space_advice.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include "common/units.h"

namespace sparsync {

std::string no_space_advice(int fd, uint64_t image_size) {
  const std::string what_to_do =
      "make room there (or give a target on a larger filesystem), then run the same command to resume";
  struct stat st {};
  struct statvfs fs {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || ::fstatvfs(fd, &fs) != 0) return "; " + what_to_do;
  const uint64_t held = static_cast<uint64_t>(st.st_blocks) * 512;
  const uint64_t needed = image_size > held ? image_size - held : 0;
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  return "; the " + format_bytes(image_size) + " image needs up to " + format_bytes(needed) +
         " more space and its filesystem has " + format_bytes(free_bytes) + " free: " + what_to_do;
}

}  // namespace sparsync
