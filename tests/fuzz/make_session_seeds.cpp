// Writes the generated seeds into DIR (scripts/fuzz runs it): whole client
// sessions of server_input.h into DIR/server, a valid checkpoint record
// into DIR/checkpoint.
#include <cstdio>
#include <fstream>
#include <string>

#include "common/checkpoint_store.h"
#include "fuzz/server_input.h"

namespace {

bool write(const std::string& path, const char* data, size_t size) {
  std::ofstream f(path, std::ios::binary);
  f.write(data, static_cast<std::streamsize>(size));
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_session_seeds DIR (with DIR/server and DIR/checkpoint)\n");
    return 2;
  }
  const std::string dir = argv[1];
  for (const auto& [name, bytes] : sparsync::fuzz::session_seeds()) {
    if (!write(dir + "/server/session_" + name + ".bin", reinterpret_cast<const char*>(bytes.data()), bytes.size())) {
      return 1;
    }
  }
  sparsync::CheckpointRecord record{"file:2049:1234:262144:1700000000",   262144, 4096,
                                    sparsync::proto::HashKind::kXxh3_128, 65536,  1700000000};
  std::string bytes = sparsync::encode_checkpoint(record);
  return write(dir + "/checkpoint/record.bin", bytes.data(), bytes.size()) ? 0 : 1;
}
