#include "support/unix_socket.h"

#include <fstream>
#include <sstream>

namespace sparsync::testing {
namespace {

// The kernel's __SO_ACCEPTCON, set in the Flags column once listen() ran.
constexpr unsigned long kAcceptingFlag = 0x10000;

}  // namespace

bool unix_socket_listening(const std::string& path) {
  std::ifstream table("/proc/net/unix");
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    // Num RefCount Protocol Flags Type St Inode Path
    std::istringstream fields(line);
    std::string num, refcount, protocol, flags, type, state, inode, bound;
    if (!(fields >> num >> refcount >> protocol >> flags >> type >> state >> inode >> bound)) continue;
    if (bound == path && (std::stoul(flags, nullptr, 16) & kAcceptingFlag) != 0) return true;
  }
  return false;
}

}  // namespace sparsync::testing
