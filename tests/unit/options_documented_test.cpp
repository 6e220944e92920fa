// Every option that `sparsync --help` lists is documented: as a row of the
// option tables in docs/usage.md ("## Options") and as a .TP entry of the man
// page docs/sparsync.1. Hidden options (--server and the server fencing
// options) are not listed by --help and not checked.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/command.h"

namespace sparsync {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The options in CLI11's help: lines whose first word starts with '-', as in
// "  -b,--block-size TEXT ..." or "  --compress{3} :INT ...".
std::set<std::string> options_in_help(const std::string& help) {
  std::set<std::string> out;
  static const std::regex line_re(R"(^\s+(-[^\s]+))");
  static const std::regex name_re(R"(^(--?[A-Za-z0-9][A-Za-z0-9-]*))");
  std::istringstream lines(help);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, line_re)) continue;
    std::istringstream names(m[1].str());
    for (std::string name; std::getline(names, name, ',');) {
      std::smatch n;
      if (std::regex_search(name, n, name_re)) out.insert(n[1].str());
    }
  }
  return out;
}

// The man page's text with roff's escaped hyphens and font changes undone.
std::string man_text(const std::string& roff) {
  std::string s = std::regex_replace(roff, std::regex(R"(\\f[BIRP])"), "");
  return std::regex_replace(s, std::regex(R"(\\-)"), "-");
}

// `option` stands alone: "-b" must not match inside "--block-size" or "-bx".
bool mentions(const std::string& text, const std::string& option) {
  std::regex re("(^|[^A-Za-z0-9-])" + option + "($|[^A-Za-z0-9-])");
  return std::regex_search(text, re);
}

// The first cells of the table rows ("| `-b, --block-size SIZE` | ...") in
// the section of `markdown` that starts with the line `heading`, up to the
// next heading of the same or a higher level.
std::vector<std::string> table_first_cells(const std::string& markdown, const std::string& heading) {
  std::vector<std::string> cells;
  size_t start = markdown.find("\n" + heading + "\n");
  if (start == std::string::npos) return cells;
  start += heading.size() + 2;
  size_t end = markdown.find("\n## ", start);
  std::istringstream lines(markdown.substr(start, end == std::string::npos ? std::string::npos : end - start));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    size_t close = line.find(" |", 2);
    cells.push_back(line.substr(2, close == std::string::npos ? std::string::npos : close - 2));
  }
  return cells;
}

// The tag lines of the man page's .TP entries (the line after each .TP),
// with roff's escapes undone.
std::vector<std::string> man_tags(const std::string& roff) {
  std::vector<std::string> tags;
  std::istringstream lines(roff);
  for (std::string line; std::getline(lines, line);) {
    if (line != ".TP") continue;
    std::string tag;
    if (std::getline(lines, tag)) tags.push_back(man_text(tag));
  }
  return tags;
}

bool mentioned_in_any(const std::vector<std::string>& texts, const std::string& option) {
  for (const std::string& t : texts) {
    if (mentions(t, option)) return true;
  }
  return false;
}

class OptionsDocumented : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = testing::run_sparsync({"--help"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    options_ = options_in_help(r.out);
    // A parser that found nothing would make the checks pass vacuously.
    ASSERT_TRUE(options_.count("--block-size")) << r.out;
    ASSERT_TRUE(options_.count("-b")) << r.out;
    ASSERT_FALSE(options_.count("--server")) << "--server is internal and should stay hidden";
  }
  std::set<std::string> options_;
};

TEST_F(OptionsDocumented, EveryOptionIsARowOfTheUsageOptionTable) {
  const std::string usage = read_file(std::string(SPARSYNC_SOURCE_DIR) + "/docs/usage.md");
  ASSERT_FALSE(usage.empty()) << "cannot read docs/usage.md under " << SPARSYNC_SOURCE_DIR;
  const auto rows = table_first_cells(usage, "## Options");
  ASSERT_GE(rows.size(), 20u) << "docs/usage.md has no \"## Options\" section with its option tables";
  for (const std::string& o : options_) {
    EXPECT_TRUE(mentioned_in_any(rows, o)) << o << " is not a row of the option table in docs/usage.md";
  }
}

TEST_F(OptionsDocumented, EveryOptionIsATpEntryOfTheManPage) {
  const std::string roff = read_file(std::string(SPARSYNC_SOURCE_DIR) + "/docs/sparsync.1");
  ASSERT_FALSE(roff.empty()) << "cannot read docs/sparsync.1 under " << SPARSYNC_SOURCE_DIR;
  const auto tags = man_tags(roff);
  ASSERT_GE(tags.size(), 20u) << "docs/sparsync.1 has too few .TP entries";
  for (const std::string& o : options_) {
    EXPECT_TRUE(mentioned_in_any(tags, o)) << o << " is not a .TP entry of docs/sparsync.1";
  }
}

TEST(OptionsInHelp, ParsesShortLongAndDecoratedNames) {
  auto got = options_in_help(
      "Options:\n  -h,--help      Print\n  --compress{3} :INT in [1 - 19]\n"
      "  -i,--identity TEXT ...   key\n  SOURCE TEXT   not an option\n");
  EXPECT_EQ(got, (std::set<std::string>{"-h", "--help", "--compress", "-i", "--identity"}));
  EXPECT_TRUE(mentions(man_text("\\fB\\-b\\fR, \\fB\\-\\-block\\-size\\fR"), "--block-size"));
  EXPECT_TRUE(mentions(man_text("\\fB\\-b\\fR,"), "-b"));
  EXPECT_FALSE(mentions("--block-size", "-b"));
}

TEST(OptionsInHelp, FindsTableRowsAndManTags) {
  const std::string md =
      "# T\n\n## Options\n\n| option | meaning |\n| --- | --- |\n| `-b, --block-size SIZE` | x |\n"
      "text `--json` in prose\n\n## Next\n\n| `--map` | y |\n";
  EXPECT_EQ(table_first_cells(md, "## Options"), (std::vector<std::string>{"`-b, --block-size SIZE`"}));
  EXPECT_TRUE(table_first_cells(md, "## Missing").empty());
  const auto tags = man_tags(".SH OPTIONS\n.TP\n\\fB\\-n\\fR, \\fB\\-\\-dry\\-run\\fR\nReport --json.\n");
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_TRUE(mentioned_in_any(tags, "--dry-run"));
  EXPECT_TRUE(mentioned_in_any(tags, "-n"));
  EXPECT_FALSE(mentioned_in_any(tags, "--json"));
}

}  // namespace
}  // namespace sparsync
