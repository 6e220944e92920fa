#include "transport/ssh_config_lookup.h"

#include <glob.h>
#include <strings.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace sparsync {
namespace {

constexpr int kMaxIncludeDepth = 16;  // as ssh: a loop of Includes ends here

std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false, any = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && (c == ' ' || c == '\t' || (c == '=' && words.empty()))) {
      if (any) words.push_back(word);
      word.clear();
      any = false;
    } else if (!quoted && c == '#') {
      break;
    } else {
      word += c;
      any = true;
    }
  }
  if (any) words.push_back(word);
  return words;
}

bool same(const std::string& a, const char* b) { return ::strcasecmp(a.c_str(), b) == 0; }

// A comma list ("a,!b,*.example"): some pattern matches and no negated one does.
bool list_matches(const std::string& list, const std::string& host, bool* negated_hit) {
  bool hit = false;
  std::stringstream parts(list);
  std::string p;
  while (std::getline(parts, p, ',')) {
    if (!p.empty() && p[0] == '!') {
      if (ssh_pattern_match(p.substr(1), host)) *negated_hit = true;
    } else if (ssh_pattern_match(p, host)) {
      hit = true;
    }
  }
  return hit;
}

bool host_line_applies(const std::vector<std::string>& words, const std::string& host) {
  bool hit = false, negated = false;
  for (size_t i = 1; i < words.size(); ++i) hit = list_matches(words[i], host, &negated) || hit;
  return hit && !negated;
}

bool match_line_applies(const std::vector<std::string>& words, const std::string& host) {
  if (words.size() == 2 && same(words[1], "all")) return true;
  if (words.size() == 3 && same(words[1], "host")) {
    bool negated = false;
    return list_matches(words[2], host, &negated) && !negated;
  }
  return false;
}

struct Lookup {
  std::string host;
  std::string keyword;
  std::string include_base;  // for relative Include paths
  bool all = false;          // every value (IdentityFile), not just the first
  std::vector<std::string> values;

  bool done() const { return !all && !values.empty(); }

  // `applies`: whether the lines before this file's first Host/Match apply.
  void read(const std::string& path, bool applies, int depth) {
    std::ifstream in(path);
    std::string line;
    while (!done() && std::getline(in, line)) {
      std::vector<std::string> words = words_of(line);
      if (words.empty()) continue;
      if (same(words[0], "host")) {
        applies = host_line_applies(words, host);
      } else if (same(words[0], "match")) {
        applies = match_line_applies(words, host);
      } else if (!applies) {
        continue;
      } else if (same(words[0], "include") && depth < kMaxIncludeDepth) {
        for (size_t i = 1; i < words.size() && !done(); ++i) include(words[i], depth);
      } else if (same(words[0], keyword.c_str()) && words.size() >= 2) {
        values.push_back(words[1]);
      }
    }
  }

  void include(const std::string& pattern, int depth) {
    std::string full = pattern;
    if (full.rfind("~/", 0) == 0) {
      const char* home = std::getenv("HOME");
      full = std::string(home != nullptr ? home : "") + full.substr(1);
    } else if (full.empty() || full[0] != '/') {
      full = include_base + "/" + full;
    }
    glob_t g{};
    if (::glob(full.c_str(), 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc && !done(); ++i) read(g.gl_pathv[i], true, depth + 1);
    }
    ::globfree(&g);
  }
};

}  // namespace

bool ssh_pattern_match(const std::string& pattern, const std::string& text) {
  size_t p = 0, t = 0, star = std::string::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || ::strncasecmp(&pattern[p], &text[t], 1) == 0)) {
      ++p;
      ++t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

std::vector<std::string> lookup(const std::string& config_file, const std::string& host, const std::string& keyword,
                                bool all) {
  const char* home = std::getenv("HOME");
  std::string user_dir = std::string(home != nullptr ? home : "") + "/.ssh";
  Lookup l{host, keyword, user_dir, all, {}};
  if (!config_file.empty()) {
    l.read(config_file, true, 0);
    return l.values;
  }
  l.read(user_dir + "/config", true, 0);
  l.include_base = "/etc/ssh";
  if (!l.done()) l.read("/etc/ssh/ssh_config", true, 0);
  return l.values;
}

}  // namespace

std::optional<std::string> ssh_config_value(const std::string& config_file, const std::string& host,
                                            const std::string& keyword) {
  std::vector<std::string> values = lookup(config_file, host, keyword, false);
  if (values.empty()) return std::nullopt;
  return values.front();
}

std::vector<std::string> ssh_config_values(const std::string& config_file, const std::string& host,
                                           const std::string& keyword) {
  return lookup(config_file, host, keyword, true);
}

}  // namespace sparsync
