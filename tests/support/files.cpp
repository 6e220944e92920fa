#include "support/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/unique_fd.h"

namespace sparsync::testing {
namespace {

[[noreturn]] void die(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

int open_or_die(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) die("open " + path);
  return fd;
}

void pwrite_or_die(int fd, const uint8_t* p, size_t len, uint64_t off) {
  while (len > 0) {
    ssize_t n = ::pwrite(fd, p, len, static_cast<off_t>(off));
    if (n <= 0) die("pwrite");
    p += n;
    len -= static_cast<size_t>(n);
    off += static_cast<uint64_t>(n);
  }
}

// Reads exactly len bytes at off (the caller knows the file is that long).
void pread_or_die(int fd, uint8_t* p, size_t len, uint64_t off, const std::string& path) {
  size_t got = 0;
  int err = pread_full(fd, p, len, off, &got);
  if (err != 0) {
    errno = err;
    die("pread " + path);
  }
  if (got != len) throw std::runtime_error("pread " + path + ": file ended early");
}

// One 64-bit mix per 8 bytes of pattern (a byte-at-a-time mix made writing
// the suite's images most of the e2e tests' CPU under ASan).
uint64_t pattern_word(uint32_t seed, uint64_t word_index) {
  uint64_t x = word_index * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 32;
  // Every byte odd, so never zero: every block of pattern data differs from a zero block.
  return x | 0x0101010101010101ull;
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sparsync-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

uint8_t pattern_byte(uint32_t seed, uint64_t offset) {
  return static_cast<uint8_t>(pattern_word(seed, offset / 8) >> (8 * (offset % 8)));
}

void fill_pattern(uint32_t seed, uint64_t offset, uint8_t* out, size_t len) {
  size_t i = 0;
  for (; i < len && (offset + i) % 8 != 0; ++i) out[i] = pattern_byte(seed, offset + i);
  for (; i + 8 <= len; i += 8) {
    uint64_t w = pattern_word(seed, (offset + i) / 8);
    std::memcpy(out + i, &w, 8);  // little-endian, as pattern_byte reads it
  }
  for (; i < len; ++i) out[i] = pattern_byte(seed, offset + i);
}

std::vector<uint8_t> pattern_bytes(uint32_t seed, uint64_t offset, size_t len) {
  std::vector<uint8_t> v(len);
  fill_pattern(seed, offset, v.data(), len);
  return v;
}

SparseImage::SparseImage(std::string path, uint64_t size) : path_(std::move(path)) {
  int fd = open_or_die(path_, O_RDWR | O_CREAT | O_TRUNC);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) die("ftruncate");
  ::close(fd);
}

SparseImage& SparseImage::data(uint64_t offset, uint64_t len, uint32_t seed) {
  int fd = open_or_die(path_, O_RDWR);
  constexpr uint64_t kStep = 1 << 20;
  std::vector<uint8_t> buf(static_cast<size_t>(std::min(kStep, len)));
  for (uint64_t done = 0; done < len; done += kStep) {
    size_t n = static_cast<size_t>(std::min(kStep, len - done));
    fill_pattern(seed, offset + done, buf.data(), n);
    pwrite_or_die(fd, buf.data(), n, offset + done);
  }
  ::close(fd);
  return *this;
}

SparseImage& SparseImage::bytes(uint64_t offset, const std::vector<uint8_t>& bytes) {
  int fd = open_or_die(path_, O_RDWR);
  pwrite_or_die(fd, bytes.data(), bytes.size(), offset);
  ::close(fd);
  return *this;
}

SparseImage& SparseImage::zeros(uint64_t offset, uint64_t len) { return bytes(offset, std::vector<uint8_t>(len, 0)); }

SparseImage& SparseImage::hole(uint64_t offset, uint64_t len) {
  int fd = open_or_die(path_, O_RDWR);
  if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(len)) != 0) {
    die("punch hole");
  }
  ::close(fd);
  return *this;
}

uint64_t allocated_bytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) die("stat " + path);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) die("stat " + path);
  if (S_ISBLK(st.st_mode)) {
    int fd = open_or_die(path, O_RDONLY);
    uint64_t size = 0;
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) die("BLKGETSIZE64 " + path);
    ::close(fd);
    return size;
  }
  return static_cast<uint64_t>(st.st_size);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<uint8_t> read_range(const std::string& path, uint64_t offset, size_t len) {
  UniqueFd fd(open_or_die(path, O_RDONLY));
  std::vector<uint8_t> v(len);
  size_t got = 0;
  int err = pread_full(fd.get(), v.data(), len, offset, &got);
  if (err != 0) {
    errno = err;
    die("pread " + path);
  }
  v.resize(got);
  return v;
}

std::vector<uint8_t> read_all(const std::string& path) {
  return read_range(path, 0, static_cast<size_t>(file_size(path)));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

void write_all(const std::string& path, const std::vector<uint8_t>& bytes) {
  int fd = open_or_die(path, O_RDWR | O_CREAT | O_TRUNC);
  pwrite_or_die(fd, bytes.data(), bytes.size(), 0);
  ::close(fd);
}

std::optional<uint64_t> first_difference(const std::string& a, const std::string& b) {
  uint64_t sa = file_size(a), sb = file_size(b);
  constexpr size_t kStep = 1 << 20;
  uint64_t common = std::min(sa, sb);
  UniqueFd fa(open_or_die(a, O_RDONLY)), fb(open_or_die(b, O_RDONLY));
  // Two buffers for the whole walk, compared with memcmp: a fresh pair per
  // MiB, compared byte by byte, was most of a resume test's time under ASan.
  std::vector<uint8_t> x(kStep), y(kStep);
  for (uint64_t off = 0; off < common; off += kStep) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kStep, common - off));
    pread_or_die(fa.get(), x.data(), n, off, a);
    pread_or_die(fb.get(), y.data(), n, off, b);
    if (std::memcmp(x.data(), y.data(), n) == 0) continue;
    for (size_t i = 0; i < n; ++i)
      if (x[i] != y[i]) return off + i;
  }
  if (sa != sb) return common;
  return std::nullopt;
}

int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) die("stat " + path);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::vector<std::string> directory_entries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) die("opendir " + dir);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

bool supports_holes(const std::string& dir) {
  std::string path = dir + "/.hole-probe";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = false;
  uint8_t b = 1;
  // 1 MiB hole, then one byte of data: SEEK_DATA from 0 must skip the hole.
  if (::pwrite(fd, &b, 1, 1 << 20) == 1) {
    off_t d = ::lseek(fd, 0, SEEK_DATA);
    ok = d > 0;
  }
  ::close(fd);
  ::unlink(path.c_str());
  return ok;
}

}  // namespace sparsync::testing
