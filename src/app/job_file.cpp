#include "app/job_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

// Header-only: the static binary links no libtomlplusplus.so (Debian's
// pkg-config would ask for it).
#define TOML_HEADER_ONLY 1
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

#include "common/printable.h"
#include "common/unique_fd.h"

namespace sparsync {
namespace {

constexpr size_t kJobFileCap = size_t{1} << 20;

enum class Kind { kFlag, kValue, kList, kCompress };

struct OptionKey {
  const char* key;
  Kind kind;
};

// The long options of a sync that a job may set per entry. Job-wide ones
// (--json, --metrics-file, -q/-v, --progress) stay on the command line;
// --size, --status, --rollback and the server's options make no sense here.
const OptionKey kOptionKeys[] = {
    {"block-size", Kind::kValue},
    {"checksum", Kind::kValue},
    {"dry-run", Kind::kFlag},
    {"allow-larger-target", Kind::kFlag},
    {"force", Kind::kFlag},
    {"verify", Kind::kFlag},
    {"restart", Kind::kFlag},
    {"checkpoint-interval", Kind::kValue},
    {"checkpoint-seconds", Kind::kValue},
    {"retries", Kind::kValue},
    {"retry-wait", Kind::kValue},
    {"keep", Kind::kValue},
    {"undo", Kind::kFlag},
    {"no-undo", Kind::kFlag},
    {"max-undo", Kind::kValue},
    {"bwlimit", Kind::kValue},
    {"changes", Kind::kValue},
    {"full-every", Kind::kValue},
    {"source-format", Kind::kValue},
    {"compress", Kind::kCompress},
    {"lanes", Kind::kValue},
    {"timeout", Kind::kValue},
    {"port", Kind::kValue},
    {"login", Kind::kValue},
    {"identity", Kind::kList},
    {"ssh-config", Kind::kValue},
    {"jump", Kind::kValue},
    {"proxy-command", Kind::kValue},
    {"known-hosts", Kind::kValue},
    {"accept-new-host-key", Kind::kFlag},
    {"batch", Kind::kFlag},
    {"connect-timeout", Kind::kValue},
    {"keepalive", Kind::kValue},
    {"remote-path", Kind::kValue},
    {"sudo", Kind::kFlag},
    {"no-upload", Kind::kFlag},
};

const OptionKey* find_option(std::string_view key) {
  for (const OptionKey& k : kOptionKeys) {
    if (key == k.key) return &k;
  }
  return nullptr;
}

// "FILE:LINE: what; what to do".
Status bad(const std::string& path, const toml::node& where, const std::string& what) {
  return Status(ErrorKind::kUsage, path + ":" + std::to_string(where.source().begin.line) + ": " + what);
}

std::string shown(std::string_view key) { return "'" + printable(key) + "'"; }

// Names become metrics labels, JSON keys and --only arguments: kept to
// letters, digits and . _ - so they need no escaping anywhere.
bool valid_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// A scalar as the command line would spell it.
std::optional<std::string> scalar_text(const toml::node& value) {
  if (auto s = value.value_exact<std::string>()) return *s;
  if (auto i = value.value_exact<int64_t>()) return std::to_string(*i);
  if (auto d = value.value_exact<double>()) {
    std::string text = std::to_string(*d);
    text.erase(text.find_last_not_of('0') + 1);
    if (!text.empty() && text.back() == '.') text.pop_back();
    return text;
  }
  return std::nullopt;
}

// The words for one option; false flags and `compress = false` add none.
Status option_words(const std::string& path, const std::string& key, const toml::node& value,
                    std::vector<std::string>* words) {
  const OptionKey* option = find_option(key);
  const std::string dashed = "--" + key;
  switch (option->kind) {
    case Kind::kFlag: {
      auto on = value.value_exact<bool>();
      if (!on) return bad(path, value, shown(key) + " takes true or false");
      if (*on) words->push_back(dashed);
      return Status::ok();
    }
    case Kind::kCompress: {
      if (auto on = value.value_exact<bool>()) {
        if (*on) words->push_back(dashed);
        return Status::ok();
      }
      auto level = value.value_exact<int64_t>();
      if (!level) return bad(path, value, "'compress' takes true, false or a level from 1 to 19");
      words->push_back(dashed + "=" + std::to_string(*level));
      return Status::ok();
    }
    case Kind::kList:
      if (const toml::array* list = value.as_array()) {
        for (const toml::node& item : *list) {
          auto text = item.value_exact<std::string>();
          if (!text) return bad(path, item, shown(key) + " takes a string or a list of strings");
          words->push_back(dashed + "=" + *text);
        }
        return Status::ok();
      }
      [[fallthrough]];
    case Kind::kValue: {
      auto text = scalar_text(value);
      if (!text) return bad(path, value, shown(key) + " takes a string or a number, as on the command line");
      words->push_back(dashed + "=" + *text);
      return Status::ok();
    }
  }
  return Status::ok();
}

using Options = std::vector<std::pair<std::string, const toml::node*>>;

// Sets (or replaces) the option `key` in `merged`: later layers win.
void set_option(Options* merged, const std::string& key, const toml::node* value) {
  for (auto& [k, v] : *merged) {
    if (k == key) {
      v = value;
      return;
    }
  }
  merged->emplace_back(key, value);
}

// Takes the option keys of `table` into `merged`; any other key must be one
// of `own` (the table's own fields), or it is refused with the list.
Status take_options(const std::string& path, const toml::table& table, const std::set<std::string>& own,
                    const std::string& where, Options* merged) {
  for (const auto& [k, v] : table) {
    std::string key(k.str());
    if (own.count(key) != 0) continue;
    if (find_option(key) == nullptr) {
      return bad(path, v,
                 "unknown key " + shown(key) + " in " + where +
                     "; a job sets sync options by their long names (bwlimit, verify, identity, ...: "
                     "see docs/usage.md \"Jobs\")");
    }
    set_option(merged, key, &v);
  }
  return Status::ok();
}

Result<std::string> required_name(const std::string& path, const toml::table& table, const toml::node& where,
                                  const std::string& what) {
  const toml::node* node = table.get("name");
  if (node == nullptr) return bad(path, where, what + " has no name; add name = \"...\"");
  auto name = node->value_exact<std::string>();
  if (!name || !valid_name(*name)) {
    return bad(path, *node, what + " name must be 1 to 64 letters, digits, '.', '_' or '-'");
  }
  return *name;
}

Result<std::string> optional_string(const std::string& path, const toml::table& table, const char* key) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return std::string();
  auto text = node->value_exact<std::string>();
  if (!text) return bad(path, *node, shown(key) + " takes a string");
  return *text;
}

Result<JobEntry> parse_entry(const std::string& path, const toml::node& node, const JobGroup& group, Options options) {
  const toml::table* table = node.as_table();
  if (table == nullptr) return bad(path, node, "each [[group.entry]] must be a table");
  auto name = required_name(path, *table, node, "an entry of group '" + group.name + "'");
  if (!name.is_ok()) return name.status();
  JobEntry entry;
  entry.name = name.value();
  entry.group = group.name;
  entry.line = static_cast<int>(node.source().begin.line);
  const std::string where = "entry '" + entry.name + "'";
  SPARSYNC_RETURN_IF_ERROR(take_options(path, *table, {"name", "source", "target"}, where, &options));
  for (const char* field : {"source", "target"}) {
    auto text = optional_string(path, *table, field);
    if (!text.is_ok()) return text.status();
    if (text.value().empty()) {
      return bad(path, node, where + " has no " + field + "; add " + field + " = \"...\" (a path, or host:path)");
    }
    (std::string(field) == "source" ? entry.source : entry.target) = text.value();
  }
  for (const auto& [key, value] : options) SPARSYNC_RETURN_IF_ERROR(option_words(path, key, *value, &entry.args));
  return entry;
}

Result<JobGroup> parse_group(const std::string& path, const toml::node& node, const Options& defaults) {
  const toml::table* table = node.as_table();
  if (table == nullptr) return bad(path, node, "each [[group]] must be a table");
  auto name = required_name(path, *table, node, "a [[group]]");
  if (!name.is_ok()) return name.status();
  JobGroup group;
  group.name = name.value();
  Options options = defaults;
  SPARSYNC_RETURN_IF_ERROR(take_options(path, *table, {"name", "pre", "post", "hook-timeout", "entry"},
                                        "group '" + group.name + "'", &options));
  auto pre = optional_string(path, *table, "pre");
  if (!pre.is_ok()) return pre.status();
  auto post = optional_string(path, *table, "post");
  if (!post.is_ok()) return post.status();
  group.pre = pre.value();
  group.post = post.value();
  if (const toml::node* t = table->get("hook-timeout")) {
    auto seconds = t->value_exact<int64_t>();
    if (!seconds || *seconds < 1 || *seconds > 86400) return bad(path, *t, "'hook-timeout' takes seconds, 1 to 86400");
    group.hook_timeout = static_cast<int>(*seconds);
  }
  const toml::array* entries = table->get_as<toml::array>("entry");
  if (entries == nullptr || entries->empty()) {
    return bad(path, node, "group '" + group.name + "' has no entries; add [[group.entry]] tables under it");
  }
  for (const toml::node& e : *entries) {
    auto entry = parse_entry(path, e, group, options);
    if (!entry.is_ok()) return entry.status();
    group.entries.push_back(entry.take());
  }
  return group;
}

std::string stem_of(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.size() > 5 && base.compare(base.size() - 5, 5, ".toml") == 0) base.resize(base.size() - 5);
  return base;
}

Status check_unique_names(const JobSpec& job) {
  std::set<std::string> entries, groups;
  for (const JobGroup& g : job.groups) {
    if (!groups.insert(g.name).second) {
      return Status(ErrorKind::kUsage, job.path + ": two groups are named '" + g.name + "'; give each its own name");
    }
    for (const JobEntry& e : g.entries) {
      if (!entries.insert(e.name).second) {
        return Status(ErrorKind::kUsage, job.path + ":" + std::to_string(e.line) + ": a second entry is named '" +
                                             e.name + "'; entry names are unique in a job (--only uses them)");
      }
    }
  }
  return Status::ok();
}

Status parse_top(const std::string& path, const toml::table& root, JobSpec* job) {
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (key != "job" && key != "parallel" && key != "defaults" && key != "group") {
      return bad(path, v,
                 "unknown key " + shown(key) +
                     " at the top of the job file; it holds job, parallel, [defaults] and [[group]]");
    }
  }
  auto name = optional_string(path, root, "job");
  if (!name.is_ok()) return name.status();
  job->name = name.value().empty() ? stem_of(path) : name.value();
  if (!valid_name(job->name)) {
    return Status(ErrorKind::kUsage, path + ": the job name '" + printable(job->name) +
                                         "' must be 1 to 64 letters, digits, '.', '_' or '-'; set job = \"...\"");
  }
  if (const toml::node* p = root.get("parallel")) {
    auto n = p->value_exact<int64_t>();
    if (!n || *n < 1 || *n > 64) return bad(path, *p, "'parallel' takes a number from 1 to 64");
    job->parallel = static_cast<int>(*n);
  }
  Options defaults;
  if (const toml::node* d = root.get("defaults")) {
    const toml::table* table = d->as_table();
    if (table == nullptr) return bad(path, *d, "[defaults] must be a table");
    SPARSYNC_RETURN_IF_ERROR(take_options(path, *table, {}, "[defaults]", &defaults));
  }
  const toml::array* groups = root.get_as<toml::array>("group");
  if (groups == nullptr || groups->empty()) {
    return Status(ErrorKind::kUsage, path + ": no [[group]] in the job file; see docs/usage.md \"Jobs\"");
  }
  for (const toml::node& g : *groups) {
    auto group = parse_group(path, g, defaults);
    if (!group.is_ok()) return group.status();
    job->groups.push_back(group.take());
  }
  return check_unique_names(*job);
}

}  // namespace

const std::vector<std::string>& job_option_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> v;
    for (const OptionKey& k : kOptionKeys) v.emplace_back(k.key);
    return v;
  }();
  return keys;
}

Result<JobSpec> parse_job_text(const std::string& text, const std::string& path) {
  JobSpec job;
  job.path = path;
  try {
    toml::table root = toml::parse(text, path);
    SPARSYNC_RETURN_IF_ERROR(parse_top(path, root, &job));
  } catch (const toml::parse_error& e) {
    return Status(ErrorKind::kUsage, path + ":" + std::to_string(e.source().begin.line) +
                                         ": not valid TOML: " + printable(e.description()));
  }
  return job;
}

Result<JobSpec> read_job_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) {
    return Status(ErrorKind::kUsage, "--job " + path + ": " + std::strerror(errno) + "; give the job file's path");
  }
  std::string text(kJobFileCap + 1, '\0');
  size_t got = 0;
  int err = read_full(fd.get(), text.data(), text.size(), &got);
  if (err != 0) return Status(ErrorKind::kUsage, "--job " + path + ": " + std::strerror(err));
  if (got > kJobFileCap) return Status(ErrorKind::kUsage, "--job " + path + ": larger than 1 MiB; is it a job file?");
  text.resize(got);
  return parse_job_text(text, path);
}

}  // namespace sparsync
