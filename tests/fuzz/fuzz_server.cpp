// libFuzzer target: the server's message loop (run_server of
// src/app/server.h) fed from memory. The input is the client's byte stream;
// it reaches the server through a memfd, every OPEN confined to two fixed
// files in a private temporary directory (server_input.h), with the server's
// own --allow-root fence on that directory as a second wall. Output goes to
// /dev/null. The target file is reset before each input, so runs do not
// depend on each other.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "app/server.h"
#include "app/server_fence.h"
#include "common/log.h"
#include "fuzz/server_input.h"

namespace {

std::string g_dir, g_target, g_source, g_checkpoint;
int g_null = -1;

void write_file(const std::string& path, size_t size, uint8_t seed) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = (i / 4096) % 3 == 2 ? 0 : static_cast<uint8_t>(i * 31 + seed);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) abort();
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/sparsync-fuzz.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) abort();
  g_dir = tmpl;
  g_target = g_dir + "/target.img";
  g_source = g_dir + "/source.img";
  g_checkpoint = g_dir + "/.target.img.sparsync-checkpoint";
  write_file(g_source, 256 * 1024, 1);
  g_null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  sparsync::log::set_level(sparsync::log::Level::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  write_file(g_target, 128 * 1024, 2);
  ::unlink(g_checkpoint.c_str());
  std::vector<uint8_t> input = sparsync::fuzz::confine(data, size, g_target, g_source);
  int in = ::memfd_create("fuzz-input", MFD_CLOEXEC);
  if (in < 0) abort();
  if (!input.empty() && ::write(in, input.data(), input.size()) != static_cast<ssize_t>(input.size())) abort();
  ::lseek(in, 0, SEEK_SET);
  sparsync::ServerFence fence{{g_dir}, false, false};
  (void)sparsync::run_server(in, g_null, fence);
  ::close(in);
  return 0;
}
