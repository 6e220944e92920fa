#include "transport/ssh_status.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "common/printable.h"
#include "transport/ssh_connection.h"
#include "transport/ssh_exec.h"
#include "transport/ssh_upload.h"

namespace sparsync {
namespace {

Result<ExecResult> ask(SshConnection& c, const SshOptions& o, const std::string& binary, const std::string& path,
                       bool json) {
  // "--" keeps a path that starts with '-' a path.
  return ssh_exec(c, std::string(o.sudo ? "sudo -n " : "") + shell_quote(binary) + " --status " +
                         (json ? "--json " : "") + "-- " + shell_quote(path));
}

bool binary_missing(const ExecResult& r) {
  return r.exit_status == 127 || r.exit_status == 126 || r.err.find("command not found") != std::string::npos;
}

// The far side logs "sparsync: <message>"; ours adds its own prefix.
std::string far_message(const std::string& err) {
  std::string line = first_line(err);
  const std::string prefix = "sparsync: ";
  if (line.rfind(prefix, 0) == 0) line = line.substr(prefix.size());
  return printable(line);
}

// The far report: its first line after "host:", then the lines it adds
// (kept generations), each escaped, at most a bounded number of them.
std::string far_report(const std::string& host, const std::string& out) {
  constexpr size_t kMaxLines = 1 + 1 + 1000;  // status, heading, one per generation
  std::string report = host + ":";
  size_t start = 0;
  for (size_t n = 0; n < kMaxLines && start < out.size(); ++n) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    if (n > 0) report += "\n";
    report += printable(out.substr(start, end - start));
    start = end + 1;
  }
  return report;
}

// The far side's JSON object with "host" added. A far sparsync older than
// --status --json prints its text line instead: said, not passed on.
Result<std::string> far_json(const std::string& host, const std::string& out) {
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("target")) {
    return Status(ErrorKind::kConnection, host +
                                              "'s sparsync printed no JSON for --status --json (an older "
                                              "version); install this version there, or run without --json");
  }
  j["host"] = host;
  // ASCII only: whatever the peer put in its strings reaches the terminal
  // as \u escapes, never as raw control or C1 bytes.
  return j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

}  // namespace

Result<std::string> remote_target_status(const SshOptions& o, const std::string& path, bool json) {
  auto opened = SshConnection::open(o);
  if (!opened.is_ok()) return opened.status();
  std::unique_ptr<SshConnection> c = opened.take();
  const std::string host = c->peer_name();
  auto asked = ask(*c, o, o.remote_path, path, json);
  if (!asked.is_ok()) return asked.status();
  ExecResult r = asked.take();
  std::unique_ptr<RemoteUpload> upload;  // released (the far copy removed) when this returns
  if (binary_missing(r)) {
    const std::string why = host + " has no sparsync at '" + o.remote_path + "'";
    if (!o.upload) {
      return Status(ErrorKind::kConnection,
                    why + "; install sparsync there, give its path with --remote-path, or drop --no-upload");
    }
    auto uploaded = upload_this_binary(*c, why);
    if (!uploaded.is_ok()) return uploaded.status();
    upload = uploaded.take();
    asked = ask(*c, o, upload->binary(), path, json);
    if (!asked.is_ok()) return asked.status();
    r = asked.take();
  }
  if (r.exit_status == 0) return json ? far_json(host, r.out) : far_report(host, r.out);
  const bool ours = r.exit_status >= 1 && r.exit_status <= 8;  // sparsync's exit codes
  const std::string said = r.err.empty() ? "exit status " + std::to_string(r.exit_status) : far_message(r.err);
  return Status(ours ? static_cast<ErrorKind>(r.exit_status) : ErrorKind::kConnection,
                host + ": " + said + (ours ? "" : " (running sparsync --status there)"));
}

}  // namespace sparsync
