// Interrupts (SIGINT, SIGTERM) are only noticed at safe points: the handler
// sets a flag, and the engines poll it between chunks, where they can make a
// final checkpoint and stop cleanly (ninja's approach).
// Thread-safety: the flag is a lock-free atomic.
#pragma once

namespace sparsync {

// Installs handlers for SIGINT and SIGTERM that set the flag.
void install_interrupt_handlers();
bool interrupted();
int interrupt_signal();  // the signal that arrived, 0 if none

}  // namespace sparsync
