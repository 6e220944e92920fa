// Test helpers for real files: a temporary directory (RAII), a sparse image
// builder that writes real data and leaves real holes, allocated bytes from
// st_blocks, whole-file reads and a check that the filesystem reports holes.
// Thread-safety: none needed; each test owns its files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sparsync::testing {

class TempDir {
 public:
  TempDir();  // under $TMPDIR or /tmp
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Deterministic, never-all-zero-per-block bytes for (seed, offset).
uint8_t pattern_byte(uint32_t seed, uint64_t offset);
std::vector<uint8_t> pattern_bytes(uint32_t seed, uint64_t offset, size_t len);
void fill_pattern(uint32_t seed, uint64_t offset, uint8_t* out, size_t len);

// Builds a file of `size` bytes that is one hole, then writes data ranges.
class SparseImage {
 public:
  SparseImage(std::string path, uint64_t size);
  // Writes pattern bytes (seeded) at [offset, offset+len).
  SparseImage& data(uint64_t offset, uint64_t len, uint32_t seed = 1);
  SparseImage& bytes(uint64_t offset, const std::vector<uint8_t>& bytes);
  // Writes explicit zeros (allocated, not a hole).
  SparseImage& zeros(uint64_t offset, uint64_t len);
  // Punches a hole.
  SparseImage& hole(uint64_t offset, uint64_t len);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

uint64_t allocated_bytes(const std::string& path);  // st_blocks * 512
uint64_t file_size(const std::string& path);        // block devices: BLKGETSIZE64
bool exists(const std::string& path);
std::vector<uint8_t> read_all(const std::string& path);
std::vector<uint8_t> read_range(const std::string& path, uint64_t offset, size_t len);
void write_all(const std::string& path, const std::vector<uint8_t>& bytes);
// Small text files (configs, logs): "" for a file that cannot be read.
std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);
// Index of the first differing byte, or nullopt when equal (sizes included).
std::optional<uint64_t> first_difference(const std::string& a, const std::string& b);
// The mtime in nanoseconds.
int64_t mtime_ns(const std::string& path);
// The names in `dir`, without "." and "..", in readdir order.
std::vector<std::string> directory_entries(const std::string& dir);
// True when `dir`'s filesystem reports a hole in a fresh sparse file.
bool supports_holes(const std::string& dir);

}  // namespace sparsync::testing
