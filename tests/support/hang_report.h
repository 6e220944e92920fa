// What a test says about a command that did not end in time: every process
// that still holds the command's output pipes open (the command itself, and
// any child that outlived it: a far side, a qemu-nbd), with what each of its
// threads waits on in the kernel, so that a hang seen once in CI can be
// read from its log instead of guessed at. And the means to end them.
// Thread-safety: plain functions over /proc.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sparsync::testing {

// `pid` and every other process (this one excepted) with an open
// descriptor on one of the pipes whose inodes are `pipe_inodes`.
std::vector<pid_t> processes_holding(pid_t pid, const std::vector<ino_t>& pipe_inodes);

// For each process: its command line and state, and per thread its name,
// kernel wait channel and current system call (from /proc; "?" for what
// cannot be read).
std::string describe_processes(const std::vector<pid_t>& pids);

}  // namespace sparsync::testing
