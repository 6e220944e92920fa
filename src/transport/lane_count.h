// How many lanes (PROTOCOL.md §4.15) a push opens when the user did not say.
// Pure. Thread-safety: none needed.
#pragma once

#include <cmath>
#include <cstdint>

namespace sparsync {

// Lanes pay only where one channel's window per round trip is less than
// the disk and the cipher can do: each lane is counted at 1 MiB per round
// trip (half of sshd's 2 MiB window, as the window refills while data is
// in flight) against 500 MB/s. Below ~4 ms (a LAN, loopback) that is one
// lane, and one channel does better than several: there the extra sockets
// cost ~30 % on a 1 GiB clone here. At 50 ms it is all 16. --lanes N
// overrides the estimate.
inline uint16_t lanes_for_round_trip(double seconds, uint16_t most) {
  constexpr double kAimBytesPerSecond = 500e6;
  constexpr double kLaneBytesPerTrip = 1 << 20;
  double need = std::ceil(seconds * kAimBytesPerSecond / kLaneBytesPerTrip);
  if (need < 2) return 0;
  return need >= most ? most : static_cast<uint16_t>(need);
}

}  // namespace sparsync
