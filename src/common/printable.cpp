#include "common/printable.h"

#include <cstdint>
#include <cstdio>

namespace sparsync {
namespace {

void append_byte_escape(std::string* out, uint8_t b) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "\\x%02x", b);
  *out += buf;
}

// Printable but invisible or misleading: shown by number.
bool is_hidden_format(char32_t c) {
  return (c >= 0x80 && c <= 0x9f) || c == 0x061c || c == 0x200e || c == 0x200f || c == 0x2028 || c == 0x2029 ||
         (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

// The length of the well-formed UTF-8 sequence at `s` (Unicode 15, table
// 3-7: no overlongs, no surrogates, nothing past U+10FFFF), or 0; `cp` gets
// its code point.
size_t utf8_sequence(std::string_view s, char32_t* cp) {
  auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  auto cont = [&](size_t i, uint8_t lo = 0x80, uint8_t hi = 0xbf) { return i < s.size() && b(i) >= lo && b(i) <= hi; };
  uint8_t lead = b(0);
  if (lead >= 0xc2 && lead <= 0xdf && cont(1)) {
    *cp = static_cast<char32_t>(((lead & 0x1f) << 6) | (b(1) & 0x3f));
    return 2;
  }
  if (lead >= 0xe0 && lead <= 0xef) {
    uint8_t lo = lead == 0xe0 ? 0xa0 : 0x80;
    uint8_t hi = lead == 0xed ? 0x9f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2)) return 0;
    *cp = static_cast<char32_t>(((lead & 0x0f) << 12) | ((b(1) & 0x3f) << 6) | (b(2) & 0x3f));
    return 3;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    uint8_t lo = lead == 0xf0 ? 0x90 : 0x80;
    uint8_t hi = lead == 0xf4 ? 0x8f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return 0;
    *cp = static_cast<char32_t>(((lead & 0x07) << 18) | ((b(1) & 0x3f) << 12) | ((b(2) & 0x3f) << 6) | (b(3) & 0x3f));
    return 4;
  }
  return 0;
}

}  // namespace

std::string printable(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    auto b = static_cast<uint8_t>(bytes[i]);
    if (b >= 0x20 && b < 0x7f) {
      out += static_cast<char>(b);
      ++i;
    } else if (b == '\n') {
      out += "\\n";
      ++i;
    } else if (b == '\r') {
      out += "\\r";
      ++i;
    } else if (b == '\t') {
      out += "\\t";
      ++i;
    } else if (b < 0x80) {
      append_byte_escape(&out, b);
      ++i;
    } else {
      char32_t cp = 0;
      size_t n = utf8_sequence(bytes.substr(i), &cp);
      if (n == 0) {
        // Not UTF-8: this byte alone, then try again from the next one.
        append_byte_escape(&out, b);
        ++i;
      } else if (is_hidden_format(cp)) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
        out += buf;
        i += n;
      } else {
        out.append(bytes.substr(i, n));
        i += n;
      }
    }
  }
  return out;
}

}  // namespace sparsync
