// LocalTransport: runs `<this binary> --server` as a child process and talks
// to it over two pipes, so local syncs exercise exactly the code path that
// runs over SSH. The child's stderr is shared with ours.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "transport/transport.h"

namespace sparsync {

class LocalTransport : public Transport {
 public:
  // Starts `argv` (argv[0] is the program path).
  static Result<std::unique_ptr<LocalTransport>> start(const std::vector<std::string>& argv);
  ~LocalTransport() override;

  int read_fd() override { return from_child_.get(); }
  int write_fd() override { return to_child_.get(); }
  void close_write() override { to_child_.reset(); }
  Status finish() override;
  void abandon() override;
  std::string peer_name() const override { return "local"; }

 private:
  LocalTransport(pid_t pid, UniqueFd to_child, UniqueFd from_child)
      : pid_(pid), to_child_(std::move(to_child)), from_child_(std::move(from_child)) {}
  pid_t pid_;
  UniqueFd to_child_;
  UniqueFd from_child_;
};

// Path of the running executable, for starting the server side locally.
std::string self_executable();

}  // namespace sparsync
