// Every option that `sparsync --help` lists is documented in README.md and in
// the man page docs/sparsync.1 (STYLE.md "Habits"). Hidden options (--server
// and the server fencing options) are not listed by --help and not checked.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

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

TEST_F(OptionsDocumented, EveryOptionIsInTheReadme) {
  const std::string readme = read_file(std::string(SPARSYNC_SOURCE_DIR) + "/README.md");
  ASSERT_FALSE(readme.empty()) << "cannot read README.md under " << SPARSYNC_SOURCE_DIR;
  for (const std::string& o : options_) EXPECT_TRUE(mentions(readme, o)) << o << " is not in README.md";
}

TEST_F(OptionsDocumented, EveryOptionIsInTheManPage) {
  const std::string roff = read_file(std::string(SPARSYNC_SOURCE_DIR) + "/docs/sparsync.1");
  ASSERT_FALSE(roff.empty()) << "cannot read docs/sparsync.1 under " << SPARSYNC_SOURCE_DIR;
  const std::string man = man_text(roff);
  for (const std::string& o : options_) EXPECT_TRUE(mentions(man, o)) << o << " is not in docs/sparsync.1";
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

}  // namespace
}  // namespace sparsync
