#include "app/change_state.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/checkpoint_store.h"
#include "common/unique_fd.h"

namespace sparsync {
namespace {

constexpr int kFormat = 1;
constexpr size_t kMaxStateBytes = 65536;

std::string state_directory() {
  if (const char* env = std::getenv("SPARSYNC_STATE_DIR"); env != nullptr && *env != '\0') return env;
  if (::geteuid() == 0) return "/var/lib/sparsync";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && *xdg == '/')
    return std::string(xdg) + "/sparsync";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : "/tmp") + "/.local/state/sparsync";
}

// mkdir -p, the last component 0700.
Status make_directory(const std::string& dir) {
  for (size_t at = 1; at <= dir.size(); ++at) {
    if (at != dir.size() && dir[at] != '/') continue;
    const std::string part = dir.substr(0, at);
    if (::mkdir(part.c_str(), at == dir.size() ? 0700 : 0755) != 0 && errno != EEXIST) {
      return errno_status(ErrorKind::kSource, "cannot create the state directory " + part, errno);
    }
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_uid != ::geteuid() && st.st_uid != 0)) {
    return Status(ErrorKind::kSource,
                  "the state directory " + dir + " is not a directory of this user; set SPARSYNC_STATE_DIR to one");
  }
  return Status::ok();
}

std::string hex(const unsigned char* p, size_t n) {
  std::string out;
  char b[3];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    out += b;
  }
  return out;
}

bool parse_hex(const std::string& text, proto::ChangeToken* token) {
  if (text.size() != token->size() * 2) return false;
  for (size_t i = 0; i < token->size(); ++i) {
    unsigned v = 0;
    if (std::sscanf(text.c_str() + 2 * i, "%2x", &v) != 1) return false;
    (*token)[i] = static_cast<uint8_t>(v);
  }
  return true;
}

}  // namespace

std::string token_hex(const proto::ChangeToken& token) { return hex(token.data(), token.size()); }

proto::ChangeToken new_change_token() {
  proto::ChangeToken t{};
  // getrandom of 16 bytes does not fail once the pool is ready; a zero token
  // would mean "no run", so keep drawing.
  while (proto::is_zero(t)) {
    if (::getrandom(t.data(), t.size(), 0) != static_cast<ssize_t>(t.size())) t[0] = 1;
  }
  return t;
}

Result<std::string> change_state_stem(const std::string& source, const std::string& target) {
  const std::string dir = state_directory();
  SPARSYNC_RETURN_IF_ERROR(make_directory(dir));
  const std::string key = source + '\n' + target;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  return dir + "/changes-" + hex(digest, 16);
}

std::optional<ChangeState> load_change_state(const std::string& stem, std::string* why) {
  const std::string path = stem + ".json";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    *why = errno == ENOENT ? "no earlier run with --changes" : "its state " + path + " cannot be read";
    return std::nullopt;
  }
  std::string bytes(kMaxStateBytes, '\0');
  size_t got = 0;
  if (read_full(fd.get(), bytes.data(), bytes.size(), &got) != 0 || got == bytes.size()) {
    *why = "its state " + path + " cannot be read";
    return std::nullopt;
  }
  bytes.resize(got);
  ChangeState s;
  try {
    const nlohmann::json j = nlohmann::json::parse(bytes);
    if (j.at("format").get<int>() != kFormat) throw std::runtime_error("format");
    s.mode = j.at("mode").get<std::string>();
    s.source = j.at("source").get<std::string>();
    s.target = j.at("target").get<std::string>();
    if (!parse_hex(j.at("token").get<std::string>(), &s.token)) throw std::runtime_error("token");
    s.image_size = j.at("image_size").get<uint64_t>();
    s.block_size = j.at("block_size").get<uint32_t>();
    s.hash_kind = j.at("hash").get<uint8_t>();
    s.runs_since_full = j.at("runs_since_full").get<uint32_t>();
    s.reference = j.value("reference", std::string());
    s.unusable = j.value("unusable", std::string());
  } catch (const std::exception&) {
    *why = "its state " + path + " is damaged";
    return std::nullopt;
  }
  return s;
}

Status save_change_state(const std::string& stem, const ChangeState& s) {
  nlohmann::json j = {{"format", kFormat},
                      {"mode", s.mode},
                      {"source", s.source},
                      {"target", s.target},
                      {"token", token_hex(s.token)},
                      {"image_size", s.image_size},
                      {"block_size", s.block_size},
                      {"hash", s.hash_kind},
                      {"runs_since_full", s.runs_since_full},
                      {"reference", s.reference},
                      {"unusable", s.unusable}};
  const std::string path = stem + ".json";
  auto place = record_place_at(path);
  if (!place.is_ok()) return place.status();
  const std::string text = j.dump(1) + "\n";
  const std::string tmp = unpredictable_name(place.value().name);
  {
    UniqueFd fd(
        ::openat(place.value().dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return errno_status(ErrorKind::kSource, "cannot write " + path, errno);
    int err = write_full(fd.get(), text.data(), text.size());
    if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
    if (err != 0) {
      (void)::unlinkat(place.value().dir.get(), tmp.c_str(), 0);
      return errno_status(ErrorKind::kSource, "cannot write " + path, err);
    }
  }
  if (::renameat(place.value().dir.get(), tmp.c_str(), place.value().dir.get(), place.value().name.c_str()) != 0) {
    int err = errno;
    (void)::unlinkat(place.value().dir.get(), tmp.c_str(), 0);
    return errno_status(ErrorKind::kSource, "cannot write " + path, err);
  }
  return fsync_directory(place.value().dir.get(), place.value().dir_shown);
}

void remove_change_state(const std::string& stem) { (void)::unlink((stem + ".json").c_str()); }

}  // namespace sparsync
