// Little-endian encoding into a growing buffer, and a bounds-checked reader
// that fails on underflow instead of reading past the end (ccache style).
// Pure: no I/O. Thread-safety: value types, not shared.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace sparsync {

// Writes the low `n` bytes of `v` little-endian at `out`, for fixed prefixes
// built in place (frame headers, DATA's offset).
inline void store_le(uint8_t* out, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

class ByteWriter {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  // A string is u16 length then the bytes, no terminator.
  void str(std::string_view s) {
    u16(static_cast<uint16_t>(s.size()));
    bytes(s.data(), s.size());
  }
  std::vector<uint8_t>& buffer() { return buf_; }
  std::vector<uint8_t> take() { return std::move(buf_); }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> buf_;
};

class ByteReader {
 public:
  ByteReader(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}

  // Each getter returns false (and sets failed()) when too few bytes remain.
  bool u8(uint8_t* v) { return get(v, 1); }
  bool u16(uint16_t* v) { return get(v, 2); }
  bool u32(uint32_t* v) { return get(v, 4); }
  bool u64(uint64_t* v) { return get(v, 8); }
  bool bytes(void* out, size_t n) {
    if (!need(n)) return false;
    std::memcpy(out, p_, n);
    p_ += n;
    return true;
  }
  bool str(std::string* out, size_t max_len) {
    uint16_t n = 0;
    if (!u16(&n) || n > max_len || !need(n)) return fail();
    out->assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  const uint8_t* pos() const { return p_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool skip(size_t n) {
    if (!need(n)) return false;
    p_ += n;
    return true;
  }
  bool failed() const { return failed_; }
  bool at_end() const { return p_ == end_; }

 private:
  template <typename T>
  bool get(T* v, int n) {
    if (!need(static_cast<size_t>(n))) return false;
    uint64_t acc = 0;
    for (int i = 0; i < n; ++i) acc |= static_cast<uint64_t>(p_[i]) << (8 * i);
    *v = static_cast<T>(acc);
    p_ += n;
    return true;
  }
  bool need(size_t n) {
    if (remaining() < n) return fail();
    return true;
  }
  bool fail() {
    failed_ = true;
    return false;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  bool failed_ = false;
};

}  // namespace sparsync
