// End-to-end: what an operator sees (docs/usage.md "Progress, summary and
// monitoring"): the live progress line under a real pseudo-terminal, plain
// progress lines for logs, -q, the summary's newer fields, --json against the
// fields docs/usage.md documents, --metrics-file, and --map on a known pattern.
// Assertions are about bytes and formats, never about timing: the terminal
// line is drawn when the run starts and once more at its end, and --progress
// writes a final line, so each form appears however fast the run is.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/command.h"
#include "support/files.h"
#include "support/pty.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::CommandResult;
using testing::kMiB;
using testing::SparseImage;
using testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `bytes` at `offset` of an existing file, keeping the rest.
void overwrite(const std::string& path, uint64_t offset, const std::vector<uint8_t>& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

CommandResult run_on_pty(std::vector<std::string> args, unsigned short columns = 80) {
  args.insert(args.begin(), SPARSYNC_BINARY);
  return testing::run_with_pty_stderr(args, columns);
}

// "[", a bar of `width` from ChangeMap::render, "]": the first line of --map.
std::string map_bar(const std::string& out) {
  std::smatch m;
  static const std::regex re(R"(\n(\[[#~. ]*\])\n)");
  return std::regex_search(out, m, re) ? m[1].str() : "";
}

class Operator : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::supports_holes(dir_.path())) {
      GTEST_SKIP() << "the filesystem of " << dir_.path() << " does not report holes (SEEK_DATA)";
    }
  }

  // 1 GiB, 152 MiB of it data in three places: long enough to redraw a few
  // times on a slow machine, short enough for a test.
  std::string big_image() {
    SparseImage src(dir_.file("big.img"), 1024 * kMiB);
    src.data(0, 64 * kMiB, 1).data(400 * kMiB, 64 * kMiB, 2).data(1000 * kMiB, 24 * kMiB, 3);
    return src.path();
  }

  // 64 MiB of data, cloned, then its first and last MiB changed.
  void first_and_last_mib_changed(std::string* src, std::string* dst) {
    SparseImage s(dir_.file("small.img"), 64 * kMiB);
    s.data(0, 64 * kMiB, 7);
    *src = s.path();
    *dst = dir_.file("small-copy.img");
    CommandResult r = testing::run_sparsync({*src, *dst});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    s.data(0, kMiB, 8).data(63 * kMiB, kMiB, 9);
  }

  TempDir dir_;
};

TEST_F(Operator, ProgressLineOnATerminalIsRedrawnAndClearedAtTheEnd) {
  std::string src = big_image();
  // Wide enough that no frame is cut (ProgressLineFitsANarrowTerminal).
  CommandResult r = run_on_pty({src, dir_.file("dst.img")}, 200);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(testing::parse_summary(r.out).has_value()) << r.out;
  // Nothing but redraws: "\r" + line + "\033[K", each line a phase and
  // figures, and finally "\r\033[K" so that the summary starts on a clean line.
  ASSERT_GE(r.err.size(), 4u);
  EXPECT_EQ(r.err.substr(r.err.size() - 4), "\r\033[K");
  EXPECT_EQ(r.err.find('\n'), std::string::npos) << r.err;
  static const std::regex frame(
      R"(\r(connecting|(syncing|flushing|done) \S+ \S+ of \S+ \S+ scanned \(\d+%\), \S+ \S+ sent)"
      R"((, \S+ \S+ as holes)?(, \S+ \S+/s)?(, ETA [0-9:]+)?)\x1b\[K)");
  std::string rest = std::regex_replace(r.err, frame, "");
  EXPECT_EQ(rest, "\r\033[K") << "unexpected bytes on the terminal: " << r.err;
  EXPECT_NE(r.err.find(" scanned "), std::string::npos);
  // The last frame before the clear is the final state.
  size_t last = r.err.rfind("\rdone 1.00 GiB of 1.00 GiB scanned (100%), 152 MiB sent");
  EXPECT_NE(last, std::string::npos) << r.err;
}

TEST_F(Operator, ProgressLineFitsANarrowTerminal) {
  std::string src = big_image();
  CommandResult r = run_on_pty({src, dir_.file("dst.img")}, 40);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::stringstream frames(r.err);
  for (std::string f; std::getline(frames, f, '\r');) {
    if (f.empty()) continue;
    ASSERT_GE(f.size(), 3u);
    EXPECT_EQ(f.substr(f.size() - 3), "\033[K");
    EXPECT_LE(f.size() - 3, 39u) << f;  // one column short of the width: no wrap
  }
}

TEST_F(Operator, NoProgressWithoutATerminal) {
  std::string src = big_image();
  CommandResult r = testing::run_sparsync({src, dir_.file("dst.img")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(testing::parse_summary(r.out).has_value()) << r.out;
}

TEST_F(Operator, ProgressFlagWritesPlainLinesForLogs) {
  std::string src = big_image();
  CommandResult r = testing::run_sparsync({"--progress", "--progress-interval", "0.1", src, dir_.file("dst.img")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
  EXPECT_EQ(r.err.find('\033'), std::string::npos);
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.back(), '\n');
  static const std::regex line(R"(sparsync: (connecting|(syncing|flushing|done) \S+ \S+ of \S+ \S+ scanned \(\d+%\), )"
                               R"(\S+ \S+ sent(, \S+ \S+ as holes)?(, \S+ \S+/s)?(, ETA [0-9:]+)?))");
  auto lines = r.err_lines();
  for (const auto& l : lines) EXPECT_TRUE(std::regex_match(l, line)) << l;
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("sparsync: done 1.00 GiB of 1.00 GiB scanned (100%), 152 MiB sent", 0), 0u)
      << lines.back();
}

// Issue 19 item 5: --verify reads both images again, which takes as long as
// a full read; its progress is its own (bytes hashed, rate, ETA), not a
// frozen "100% scanned" with a falling rate.
TEST_F(Operator, VerifyHasItsOwnProgress) {
  // 2 GiB, nearly all holes: the sync is quick, the verify hashes every byte.
  SparseImage src(dir_.file("verify.img"), 2048 * kMiB);
  src.data(0, 4 * kMiB, 1).data(2000 * kMiB, 4 * kMiB, 2);
  CommandResult r = testing::run_sparsync(
      {"--verify", "--progress", "--progress-interval", "0.1", src.path(), dir_.file("verify-copy.img")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  static const std::regex verifying(
      R"(sparsync: verifying (\S+) (\S+) of 2\.00 GiB read \((\d+)%\)(, \S+ \S+/s)?(, ETA [0-9:]+)?)");
  int lines = 0, with_eta = 0, last_percent = -1;
  for (const std::string& l : r.err_lines()) {
    if (l.rfind("sparsync: verifying", 0) != 0) continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(l, m, verifying)) << l;
    ++lines;
    if (m[5].matched) ++with_eta;
    int percent = std::stoi(m[3]);
    EXPECT_GE(percent, last_percent) << r.err;
    last_percent = percent;
  }
  EXPECT_GE(lines, 2) << r.err;
  EXPECT_GE(with_eta, 1) << r.err;
}

TEST_F(Operator, LogLinesClearTheProgressLineFirst) {
  std::string src = big_image();
  CommandResult r = run_on_pty({"-v", src, dir_.file("dst.img")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Every log line starts on a cleared line and is whole.
  size_t count = 0;
  for (size_t at = r.err.find("sparsync: "); at != std::string::npos; at = r.err.find("sparsync: ", at + 1)) {
    ++count;
    bool after_clear = at >= 4 && r.err.compare(at - 4, 4, "\r\033[K") == 0;
    bool after_line = at >= 1 && r.err[at - 1] == '\n';
    EXPECT_TRUE(after_clear || after_line) << "log line in the middle of the progress at " << at << ": " << r.err;
    EXPECT_NE(r.err.find('\n', at), std::string::npos);
  }
  EXPECT_GE(count, 2u) << r.err;
  EXPECT_NE(r.err.find("sparsync: negotiated features: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sparsync: zeroing method on the target: "), std::string::npos) << r.err;
}

TEST_F(Operator, QuietPrintsNothingOnSuccess) {
  std::string src = big_image();
  CommandResult r = testing::run_sparsync({"-q", "--progress", "--map", src, dir_.file("dst.img")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  CommandResult t = run_on_pty({"-q", src, dir_.file("dst2.img")});
  EXPECT_EQ(t.exit_code, 0);
  EXPECT_EQ(t.out, "");
  EXPECT_EQ(t.err, "");
  // Errors still come through.
  CommandResult e = testing::run_sparsync({"-q", dir_.file("missing.img"), dir_.file("dst3.img")});
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_EQ(e.out, "");
  EXPECT_EQ(e.err_lines().size(), 1u) << e.err;
}

TEST_F(Operator, SummaryAddsWireBytesAndChangedShare) {
  std::string src, dst;
  first_and_last_mib_changed(&src, &dst);
  CommandResult r = testing::run_sparsync({src, dst});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto s = testing::parse_summary(r.out);
  ASSERT_TRUE(s.has_value()) << r.out;
  EXPECT_EQ(s->data, "2.00 MiB");
  EXPECT_EQ(s->changed, 512u);
  EXPECT_EQ(s->unchanged, 16384u - 512u);
  // 512 of 16384 blocks: 3.125 %, printed with two decimals.
  static const std::regex tail(R"(\(\S+ \S+/s\), wire \S+ \S+ out, \S+ \S+ in, 3\.1[23]% of the disk changed\n$)");
  EXPECT_TRUE(std::regex_search(r.out, tail)) << r.out;
  // A first clone has no "share of the disk changed".
  CommandResult first = testing::run_sparsync({src, dir_.file("fresh.img")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out.find("of the disk"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find(", wire 64.0 MiB out, "), std::string::npos) << first.out;
}

TEST_F(Operator, MapOfFirstAndLastMiB) {
  std::string src, dst;
  first_and_last_mib_changed(&src, &dst);
  // Dry run first: the same picture, nothing written.
  CommandResult dry = testing::run_sparsync({"--dry-run", "--map", src, dst});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  // Not a terminal: 80 columns, a bar of 78; 4096 cells of 16 KiB spread
  // over 78 columns put the changed MiB in the first two and last two.
  const std::string bar80 = "[##" + std::string(74, '.') + "##]";
  EXPECT_EQ(map_bar(dry.out), bar80) << dry.out;
  EXPECT_TRUE(testing::first_difference(src, dst).has_value());

  // On a terminal 66 wide: a bar of 64, one column per MiB.
  CommandResult r = run_on_pty({"--map", src, dst}, 66);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(map_bar(r.out), "[#" + std::string(62, '.') + "#]") << r.out;
  EXPECT_NE(r.out.find("\nmap: 64.0 MiB, one column ~ 1.00 MiB: '#' data written, '~' zeroed, '.' unchanged, "
                       "' ' zeros on both sides\n"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(testing::first_difference(src, dst).has_value());

  // The same as run-length data, after another change of the first MiB.
  overwrite(src, 0, testing::pattern_bytes(10, 0, kMiB));
  overwrite(src, 63 * kMiB, testing::pattern_bytes(11, 63 * kMiB, kMiB));
  CommandResult j = testing::run_sparsync({"--json", "--map", src, dst});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["map"].dump(), R"({"cell_bytes":16384,"runs":[["data",64],["unchanged",3968],["data",64]]})");
}

TEST_F(Operator, MetricsFileForTheTextfileCollector) {
  std::string src, dst;
  first_and_last_mib_changed(&src, &dst);
  const std::string prom = dir_.file("sparsync.prom");
  CommandResult r = testing::run_sparsync({"--metrics-file", prom, src, dst});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string text = slurp(prom);
  const std::string label = "{target=\"" + dst + "\"} ";
  for (const char* name :
       {"sparsync_last_run_timestamp_seconds", "sparsync_last_success_timestamp_seconds", "sparsync_duration_seconds",
        "sparsync_bytes_scanned", "sparsync_bytes_data", "sparsync_bytes_holes", "sparsync_bytes_wire_sent",
        "sparsync_bytes_wire_received", "sparsync_changed_blocks", "sparsync_exit_code"}) {
    std::string n = name;
    EXPECT_NE(text.find("# HELP " + n + " "), std::string::npos) << n;
    EXPECT_NE(text.find("# TYPE " + n + " gauge\n"), std::string::npos) << n;
    EXPECT_NE(text.find("\n" + n + label), std::string::npos) << n << "\n" << text;
  }
  EXPECT_NE(text.find("\nsparsync_bytes_scanned" + label + "67108864\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nsparsync_bytes_data" + label + "2097152\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nsparsync_changed_blocks" + label + "512\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nsparsync_exit_code" + label + "0\n"), std::string::npos) << text;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex("\nsparsync_last_success_timestamp_seconds\\{[^}]*\\} (\\d+)\n")));
  const std::string success = m[1];

  // A failed run (source gone) records its exit code and keeps the success.
  std::filesystem::rename(src, src + ".gone");
  CommandResult f = testing::run_sparsync({"--metrics-file", prom, src, dst});
  EXPECT_EQ(f.exit_code, 3);
  text = slurp(prom);
  EXPECT_NE(text.find("\nsparsync_exit_code" + label + "3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nsparsync_last_success_timestamp_seconds" + label + success + "\n"), std::string::npos) << text;
  // Nothing but the file in its directory's listing of *.prom and temporaries.
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().filename().string().find(".sparsync.prom."), std::string::npos) << e.path();
  }
  // A directory that does not exist is a usage error before anything runs.
  CommandResult bad = testing::run_sparsync({"--metrics-file", dir_.file("no/such.prom"), src + ".gone", dst});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

// docs/usage.md "JSON output" lists every field: `name` | type | meaning.
std::map<std::string, std::string> documented_json_fields() {
  // __FILE__ is tests/e2e/operator_test.cpp under the repository root.
  auto root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  std::string usage = slurp((root / "docs" / "usage.md").string());
  size_t start = usage.find("\n### JSON output\n");
  EXPECT_NE(start, std::string::npos) << "docs/usage.md has no \"### JSON output\" section";
  if (start == std::string::npos) return {};
  size_t end = usage.find("\n#", start + 2);
  std::string section = usage.substr(start, end == std::string::npos ? std::string::npos : end - start);
  std::map<std::string, std::string> fields;
  static const std::regex row(R"(\n\| `([a-z0-9_.]+)` \| ([a-z ]+?) \|)");
  for (auto it = std::sregex_iterator(section.begin(), section.end(), row); it != std::sregex_iterator(); ++it) {
    fields[(*it)[1]] = (*it)[2];
  }
  return fields;
}

void collect_keys(const nlohmann::json& j, const std::string& prefix,
                  std::map<std::string, const nlohmann::json*>* out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = prefix + it.key();
    (*out)[key] = &it.value();
    if (it.value().is_object()) collect_keys(it.value(), key + ".", out);
  }
}

bool has_type(const nlohmann::json& v, const std::string& type) {
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "object or null") return v.is_object() || v.is_null();
  if (type == "string or null") return v.is_string() || v.is_null();
  return false;
}

TEST_F(Operator, JsonFieldsAreExactlyTheDocumentedOnes) {
  auto documented = documented_json_fields();
  ASSERT_FALSE(documented.empty());
  std::string src, dst;
  first_and_last_mib_changed(&src, &dst);
  CommandResult r = testing::run_sparsync({"--json", "--map", "--verify", src, dst});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ok = nlohmann::json::parse(r.out);
  CommandResult f = testing::run_sparsync({"--json", dir_.file("missing.img"), dst});
  ASSERT_EQ(f.exit_code, 3);
  auto failed = nlohmann::json::parse(f.out);

  std::map<std::string, const nlohmann::json*> seen;
  collect_keys(ok, "", &seen);
  collect_keys(failed, "", &seen);
  std::set<std::string> seen_names, documented_names;
  for (const auto& [k, v] : seen) seen_names.insert(k);
  for (const auto& [k, t] : documented) documented_names.insert(k);
  EXPECT_EQ(seen_names, documented_names);
  for (const auto& [k, v] : seen) {
    auto d = documented.find(k);
    if (d == documented.end()) continue;
    EXPECT_TRUE(has_type(*v, d->second)) << k << " is " << v->dump() << ", documented as " << d->second;
  }
  EXPECT_EQ(ok["changed_percent"].get<double>(), 3.125);
  EXPECT_EQ(failed["ok"], false);
  EXPECT_EQ(failed["exit_code"], 3);
}

}  // namespace
}  // namespace sparsync
