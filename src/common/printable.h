// printable(): text that came from elsewhere (a peer's ERROR message, the
// path the far side says it opened, the far command's stderr, what a far
// shell printed) made safe to show as one line on a terminal, in a log and
// in JSON. A peer that controls bytes we print could otherwise move the
// cursor, erase our lines, retitle the terminal, start a forged
// "synced ..." line or, in JSON, abort the serialiser with invalid UTF-8.
//
// Kept as they are: printable ASCII and valid UTF-8 that is not a control.
// Escaped: every C0 control and DEL (`\n`, `\r`, `\t`, else `\xHH`); the C1
// controls U+0080..U+009F (`\u0085`); the characters that reorder or break
// a line without being controls: bidi embeddings, overrides, isolates and
// marks (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and the
// line and paragraph separators (U+2028, U+2029), as `\uXXXX`; every byte
// that is not part of well-formed UTF-8 (a stray continuation byte, a raw
// 0x80..0x9f, an overlong form, a surrogate, past U+10FFFF, a cut-off
// sequence) as `\xHH`.
//
// The backslash itself is not escaped, so the function is idempotent: the
// boundary where peer text enters escapes it, and the places that print
// (log lines, the summary, JSON) apply it again as a backstop without ever
// escaping twice. The price is that a peer's literal "\x1b" reads the same as
// an escaped ESC; this is for reading, not for decoding.
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace sparsync {

std::string printable(std::string_view bytes);

}  // namespace sparsync
