#include "transport/ssh_runner.h"

#include <vector>

#include "common/frame_io.h"
#include "common/handshake.h"
#include "common/log.h"
#include "common/printable.h"
#include "common/proto/protocol_constants.h"
#include "common/units.h"
#include "transport/ssh_connection.h"
#include "transport/ssh_exec.h"
#include "transport/ssh_transport.h"
#include "transport/ssh_upload.h"

namespace sparsync {
namespace {

enum class Found { kReady, kMissing, kOtherVersion };

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool contains(const std::string& haystack, const char* needle) { return haystack.find(needle) != std::string::npos; }

// The first line of what a far command wrote, to quote in one of our lines:
// the far side's text, so escaped.
std::string far_first_line(const std::string& text) { return printable(trim(first_line(text))); }

std::string command_for(const SshOptions& o, const std::string& binary, const char* args) {
  return std::string(o.sudo ? "sudo -n " : "") + shell_quote(binary) + " " + args;
}

// With -q the far side's notices (resuming, a live source) stay unsaid
// rather than being relayed: its errors still come.
const char* server_args(const SshOptions& o) { return o.verbosity < 0 ? "--server -q" : "--server"; }

// The far command's stderr, once it is known to be for the user: one line
// each, prefixed with the host like everything the pump relays.
void print_far_stderr(const std::string& host, const std::string& text) {
  (void)split_far_stderr(text, true, [&](std::string_view line) { log::error(far_stderr_line(host, line)); });
}

// What the far command's exit and stderr say when it ended before answering
// HELLO: no such binary (upload one), sudo in the way, or a failure of its own.
Result<Found> why_it_ended(SshTransport& t, const SshOptions& o, const std::string& cmd, std::string* seen) {
  std::string err = t.held_stderr();
  int code = t.exit_status();
  const std::string& host = t.peer_name();
  if (o.sudo && (contains(err, "password is required") || contains(err, "terminal is required"))) {
    return Status(ErrorKind::kConnection, "sudo on " + host + " wants a password (" + far_first_line(err) +
                                              "); allow " + t.connection().destination() +
                                              " to run sparsync with NOPASSWD there, "
                                              "or drop --sudo");
  }
  if (o.sudo && code == 127 && contains(err, "sudo")) {
    return Status(ErrorKind::kConnection, "sudo is not installed on " + host + " (" + far_first_line(err) +
                                              "); install it or connect as a user who may write the target");
  }
  if (code == 127 || code == 126 || contains(err, "command not found")) {
    *seen = far_first_line(err);
    return Found::kMissing;
  }
  print_far_stderr(host, err);
  if (code == 0) {
    return Status(ErrorKind::kConnection, "the server on " + host + " exited (status 0) before the session ended: '" +
                                              cmd + "' did not answer HELLO");
  }
  return remote_exit_status(code, host, "'" + cmd + "'");
}

// Starts `binary --server` and sends HELLO at once, instead of asking
// `--version` first: every exec costs a login shell on the far host, so the
// answer to HELLO is also the probe. It tells a ready server (`*started` is
// set), one speaking another version or no sparsync protocol at all, and a
// missing binary apart; `*connection` comes back for an upload unless ready.
Result<Found> start_server(std::shared_ptr<SshConnection>* connection, const std::string& binary,
                           std::unique_ptr<RemoteUpload> upload, std::unique_ptr<SshTransport>* started,
                           std::string* seen) {
  const SshOptions o = (*connection)->options();
  const std::string shown = command_for(o, binary, server_args(o));  // what messages quote
  std::string cmd = shown;
  // The shell that holds an upload removes it however the run ends
  // (transport/ssh_upload.h); this one removes it too once the server ends, in
  // case that shell was killed outright. A dropped link or a killed client
  // closes the server's stdin, it exits, and this shell goes on.
  if (upload) cmd += "; s=$?; rm -rf -- " + shell_quote(upload->dir()) + "; exit $s";
  auto opened = SshTransport::start(std::move(*connection), cmd, std::move(upload));
  if (!opened.is_ok()) return opened.status();
  std::unique_ptr<SshTransport> t = opened.take();
  FrameReader in(t->read_fd());
  FrameWriter out(t->write_fd());
  // A far side that says nothing (a hung login script, something else than
  // sparsync that waits) ends with the timeout instead of keeping us.
  in.set_timeout(static_cast<uint32_t>(o.timeout), t->peer_name());
  in.set_interruptible(true);
  proto::Hello mine;
  mine.software = software_version();
  Status s = out.write(proto::MsgType::kHello, proto::encode(mine));
  Frame f;
  if (s.is_ok()) s = in.read(&f);
  Result<Found> found = Found::kReady;
  proto::Hello peer;
  // Neither waits for the far command to end: it may never.
  if (s.timed_out()) {
    return Status(ErrorKind::kConnection, s.message() + " after starting '" + shown + "' there").as_timeout();
  }
  if (s.kind() == ErrorKind::kInterrupted)
    return Status(ErrorKind::kInterrupted, "interrupted before the sync started; run the same command to start it");
  if (!s.is_ok() && s.kind() == ErrorKind::kConnection) {
    // The stream ended before an answer: the exit status says why.
    t->close_write();
    Status ended = t->finish();
    if (!ended.is_ok() && t->exit_status() < 0) return ended;  // the link itself failed
    found = why_it_ended(*t, o, shown, seen);
  } else if (!s.is_ok()) {
    *seen = "'" + binary + "' there does not answer in sparsync's protocol: " + s.message();
    found = Found::kOtherVersion;
  } else if (f.type == proto::MsgType::kHello && proto::decode(f.payload, &peer).is_ok()) {
    if (peer.version == proto::kProtocolVersion) {
      t->hello_done(mine.features & peer.features);
      *started = std::move(t);
      return Found::kReady;
    }
    *seen = "it has " + printable(peer.software) + ", speaking protocol " + std::to_string(peer.version);
    found = Found::kOtherVersion;
  } else {
    Status answer = unexpected_frame(f, "HELLO");
    // A server of another version refuses HELLO with ERROR code 6 (PROTOCOL.md §3).
    if (answer.from_peer() && answer.kind() != ErrorKind::kProtocol) return answer;
    *seen = "its sparsync refused this one's HELLO: " + answer.message();
    found = Found::kOtherVersion;
  }
  if (found.is_ok() && found.value() == Found::kOtherVersion) {
    t->close_write();
    (void)t->finish();
  }
  if (found.is_ok()) *connection = t->take_connection();
  return found;
}

}  // namespace

Result<std::unique_ptr<Transport>> open_ssh_transport(const SshOptions& options) {
  auto opened = SshConnection::open(options);
  if (!opened.is_ok()) return opened.status();
  auto started = start_ssh_transport(opened.take());
  if (!started.is_ok()) return started.status();
  return std::unique_ptr<Transport>(started.take());
}

Result<std::unique_ptr<SshTransport>> start_ssh_transport(std::shared_ptr<SshConnection> c) {
  const SshOptions options = c->options();
  const std::string host = c->peer_name();
  // Held elsewhere too: other syncs may be running on it, so it carries no
  // upload (an upload runs on the session from this thread, unshared).
  const bool shared = c.use_count() > 1;
  std::unique_ptr<SshTransport> t;
  std::string seen;
  auto found = start_server(&c, options.remote_path, nullptr, &t, &seen);
  if (!found.is_ok()) return found.status();
  if (found.value() == Found::kReady) return t;
  if (shared) {
    return Status(ErrorKind::kConnection,
                  host + ": '" + options.remote_path + "' did not answer HELLO on a shared connection (" + seen + ")");
  }
  std::string why = found.value() == Found::kMissing ? host + " has no sparsync at '" + options.remote_path + "'" +
                                                           (seen.empty() ? "" : " (" + seen + ")")
                                                     : host + " does not have this sparsync's protocol version " +
                                                           std::to_string(proto::kProtocolVersion) + " (" + seen + ")";
  if (!options.upload) {
    ErrorKind kind = found.value() == Found::kMissing ? ErrorKind::kConnection : ErrorKind::kProtocol;
    return Status(kind, why +
                            "; install the same sparsync there, give its path with --remote-path, or "
                            "drop --no-upload to upload this one for the run");
  }
  auto upload = upload_this_binary(*c, why);
  if (!upload.is_ok()) return upload.status();
  std::string binary = upload.value()->binary();
  // From here the transport (or what start built of it) holds the upload
  // and releases it when it ends, also on failure.
  auto again = start_server(&c, binary, upload.take(), &t, &seen);
  if (!again.is_ok()) return again.status();
  if (again.value() != Found::kReady) {
    return Status(ErrorKind::kProtocol, "the sparsync uploaded to " + host + " did not answer HELLO (" +
                                            (seen.empty() ? "no output" : seen) + ")");
  }
  return t;
}

}  // namespace sparsync
