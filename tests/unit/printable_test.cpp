// printable() (common/printable.h): every class of byte a peer could use to
// forge or hide output is escaped, well-formed printable UTF-8 is kept, the
// UTF-8 boundaries (overlongs, surrogates, past U+10FFFF, cut-off sequences)
// are exact, and escaping twice changes nothing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "common/printable.h"

namespace sparsync {
namespace {

// True when `s` is something printable() never leaves raw: no C0, no DEL,
// no byte >= 0x80 outside well-formed UTF-8, no C1 or bidi code point.
bool all_safe_output(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return printable(s) == s;
}

TEST(Printable, PrintableAsciiIsKeptBackslashIncluded) {
  std::string ascii;
  for (int c = 0x20; c < 0x7f; ++c) ascii += static_cast<char>(c);
  EXPECT_EQ(printable(ascii), ascii);
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, EveryC0ControlAndDelIsEscaped) {
  EXPECT_EQ(printable("a\nb"), "a\\nb");
  EXPECT_EQ(printable("a\rb"), "a\\rb");
  EXPECT_EQ(printable("a\tb"), "a\\tb");
  EXPECT_EQ(printable(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(printable("\x1b[2K\x1b]0;title\x07"), "\\x1b[2K\\x1b]0;title\\x07");
  EXPECT_EQ(printable("\b\x7f"), "\\x08\\x7f");
  for (int c = 0; c < 0x20; ++c) {
    std::string out = printable(std::string(1, static_cast<char>(c)));
    EXPECT_EQ(out[0], '\\') << c;
    EXPECT_TRUE(all_safe_output(out)) << c;
  }
}

TEST(Printable, C1ControlsAreEscapedAsCodePointsAndAsRawBytes) {
  EXPECT_EQ(printable("\xc2\x80"), "\\u0080");
  EXPECT_EQ(printable("\xc2\x9b"), "\\u009b");  // CSI
  EXPECT_EQ(printable("\xc2\x9f"), "\\u009f");
  EXPECT_EQ(printable("\xc2\xa0"), "\xc2\xa0");  // U+00A0, first after C1
  for (int c = 0x80; c <= 0x9f; ++c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    EXPECT_EQ(printable(std::string(1, static_cast<char>(c))), buf);
  }
}

TEST(Printable, BidiControlsAndLineSeparatorsAreEscaped) {
  EXPECT_EQ(printable("a\u202eb"), "a\\u202eb");
  for (const char* c : {"\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e",
                        "\u200f", "\u061c", "\u2028", "\u2029"}) {
    std::string out = printable(c);
    EXPECT_EQ(out.substr(0, 2), "\\u") << out;
    EXPECT_EQ(out.size(), 6u) << out;
  }
  EXPECT_EQ(printable("\u2065"), "\u2065");
  EXPECT_EQ(printable("\u206a"), "\u206a");
  EXPECT_EQ(printable("\u2029x"), "\\u2029x");
}

TEST(Printable, WellFormedUtf8IsKeptAtEveryBoundary) {
  for (const char* s : {"\xc2\xa0", "\xdf\xbf",                  // U+00A0, U+07FF
                        "\xe0\xa0\x80", "\xed\x9f\xbf",          // U+0800, U+D7FF
                        "\xee\x80\x80", "\xef\xbf\xbf",          // U+E000, U+FFFF
                        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",  // U+10000, U+10FFFF
                        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"}) {
    EXPECT_EQ(printable(s), s);
  }
}

TEST(Printable, OverlongFormsAreEscapedByteByByte) {
  EXPECT_EQ(printable("\xc0\x80"), "\\xc0\\x80");
  EXPECT_EQ(printable("\xc1\xbf"), "\\xc1\\xbf");
  EXPECT_EQ(printable("\xe0\x80\x80"), "\\xe0\\x80\\x80");
  EXPECT_EQ(printable("\xe0\x9f\xbf"), "\\xe0\\x9f\\xbf");
  EXPECT_EQ(printable("\xf0\x80\x80\x80"), "\\xf0\\x80\\x80\\x80");
  EXPECT_EQ(printable("\xf0\x8f\xbf\xbf"), "\\xf0\\x8f\\xbf\\xbf");
  // An overlong ESC (C0 9B would be a CSI once decoded leniently).
  EXPECT_EQ(printable("\xc0\x9b"), "\\xc0\\x9b");
}

TEST(Printable, SurrogatesAndCodePointsPastTheLastAreEscaped) {
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // U+D800
  EXPECT_EQ(printable("\xed\xbf\xbf"), "\\xed\\xbf\\xbf");           // U+DFFF
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // U+110000
  for (int lead = 0xf5; lead <= 0xff; ++lead) {
    std::string s = {static_cast<char>(lead), '\x80', '\x80', '\x80'};
    EXPECT_TRUE(all_safe_output(printable(s))) << lead;
    EXPECT_EQ(printable(s).substr(0, 2), "\\x") << lead;
  }
}

TEST(Printable, CutOffSequencesAreEscapedAndTheNextCharacterKept) {
  EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");
  EXPECT_EQ(printable("\xe2\x82"
                      "A"),
            "\\xe2\\x82A");
  EXPECT_EQ(printable("\xf0\x9f\x98"), "\\xf0\\x9f\\x98");
  EXPECT_EQ(printable("\xc3"), "\\xc3");
  EXPECT_EQ(printable("\xc3\n"), "\\xc3\\n");
  EXPECT_EQ(printable("\x80\xc3\xa9"), "\\x80\xc3\xa9");
}

// Every string of one and two bytes: the result is safe, escaping it again
// changes nothing, and JSON takes it without throwing.
TEST(Printable, AllTwoByteStringsGiveSafeIdempotentValidUtf8) {
  for (int a = 0; a < 256; ++a) {
    for (int b = -1; b < 256; ++b) {
      std::string s(1, static_cast<char>(a));
      if (b >= 0) s += static_cast<char>(b);
      std::string out = printable(s);
      ASSERT_TRUE(all_safe_output(out)) << a << " " << b;
      ASSERT_NO_THROW((void)nlohmann::json(out).dump()) << a << " " << b;
    }
  }
}

TEST(Printable, AForgedSummaryStaysOnOneLine) {
  std::string forged = "no space\r\nsynced a -> b: 1.00 GiB scanned\x1b[2K";
  std::string out = printable(forged);
  EXPECT_EQ(out, "no space\\r\\nsynced a -> b: 1.00 GiB scanned\\x1b[2K");
  EXPECT_EQ(out.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace sparsync
