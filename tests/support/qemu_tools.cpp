#include "support/qemu_tools.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/nbd_source.h"
#include "support/command.h"

namespace sparsync::testing {

bool have_program(const std::string& program) {
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"}) {
    if (::access((std::string(dir) + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string qemu_utils_missing() {
  for (const char* tool : {"qemu-img", "qemu-io", "qemu-nbd"}) {
    if (!have_program(tool)) return std::string(tool) + " missing (Debian: qemu-utils)";
  }
  void* lib = ::dlopen("libnbd.so.0", RTLD_NOW);
  if (lib == nullptr) return "libnbd.so.0 missing (Debian: libnbd0)";
  ::dlclose(lib);
  return "";
}

std::string qemu_io_write(const std::string& image, const std::string& format, uint64_t offset, uint64_t length,
                          int pattern) {
  const std::string command =
      "write -P " + std::to_string(pattern) + " " + std::to_string(offset) + " " + std::to_string(length);
  CommandResult r = run_command({"/usr/bin/qemu-io", "-f", format, "-c", command, image});
  // qemu-io reports a failed command on stderr but may still exit 0.
  if (r.exit_code != 0 || r.out.find("wrote ") == std::string::npos) return "qemu-io: " + r.out + r.err;
  return "";
}

Result<std::vector<ByteRange>> image_dirty_ranges(const std::string& image, const std::string& name) {
  auto source = NbdSource::serve_qcow2(image, 60, name);
  if (!source.is_ok()) return source.status();
  ChangeList dirty;
  SPARSYNC_RETURN_IF_ERROR(source.value()->dirty_ranges(&dirty));
  return dirty.ranges();
}

int64_t ctime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
}

}  // namespace sparsync::testing
