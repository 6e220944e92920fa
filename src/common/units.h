// Byte counts in and out of human form: "64K", "4MiB", "1.5 GiB".
// Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sparsync {

// Parses a count with an optional K/M/G/T suffix (binary: K = 1024), with or
// without "iB"/"B". Returns nullopt on anything else or on overflow.
std::optional<uint64_t> parse_size(const std::string& text);

// "0 B", "4.0 KiB", "1.50 GiB".
std::string format_bytes(uint64_t bytes);
// "812 MiB/s"
std::string format_rate(double bytes_per_second);

}  // namespace sparsync
