#include "app/cli.h"

#include <CLI/CLI.hpp>

#include "common/proto/protocol_constants.h"
#include "common/units.h"

namespace sparsync {
namespace {

void describe_ssh(CLI::App& app, CliOptions* o) {
  const char* g = "SSH (when SOURCE or TARGET is [user@]host:path)";
  app.add_option("-p,--port", o->ssh_port, "SSH port (default: ssh config, then 22)")
      ->check(CLI::Range(1, 65535))
      ->group(g);
  app.add_option("-l,--login", o->ssh_login, "Remote user name (user@host wins)")->group(g);
  app.add_option("-i,--identity", o->ssh_identities,
                 "Private key file, tried before the config's and default keys (repeatable)")
      ->allow_extra_args(false)  // one file per -i, so SOURCE TARGET after it stay positional
      ->group(g);
  app.add_option("-F,--ssh-config", o->ssh_config,
                 "SSH config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config")
      ->check(CLI::ExistingFile)
      ->group(g);
  app.add_option("-J,--jump", o->ssh_jump,
                 "Jump hosts to reach the far host through, [user@]host[:port] separated by commas, as ssh -J "
                 "(default: the ssh config's ProxyJump)")
      ->group(g);
  app.add_option("--proxy-command", o->proxy_command,
                 "Command whose stdin and stdout reach the far host's sshd, as ssh's ProxyCommand (%h %p %r %n "
                 "expanded); none ignores the config's")
      ->group(g);
  app.add_option("--known-hosts", o->known_hosts, "known_hosts file (default ~/.ssh/known_hosts)")->group(g);
  app.add_flag("--accept-new-host-key", o->accept_new_host_key,
               "Add an unknown host key to known_hosts (a changed key is still refused)")
      ->group(g);
  app.add_flag("--batch", o->batch, "Never prompt for a passphrase or password (implied when stdin is not a terminal)")
      ->group(g);
  app.add_option("--connect-timeout", o->connect_timeout, "Seconds to wait for the connection (default 30)")
      ->check(CLI::Range(1, 3600))
      ->group(g);
  app.add_option("--keepalive", o->keepalive,
                 "Seconds of quiet link before a keepalive is sent, 0 for none (default 15)")
      ->check(CLI::Range(0, 3600))
      ->group(g);
  app.add_option("--remote-path", o->remote_path, "sparsync on the far host (default: sparsync on its PATH)")->group(g);
  app.add_flag("--sudo", o->sudo, "Run the far side as root with sudo -n (no password prompt)")->group(g);
  app.add_flag("--no-upload", o->no_upload,
               "Fail instead of uploading this binary when the far host lacks a matching sparsync")
      ->group(g);
}

void describe_transfer(CLI::App& app, CliOptions* o) {
  const char* g = "Transfer";
  app.add_option("--bwlimit", o->bwlimit_text,
                 "Cap the DATA rate at RATE bytes per second (suffixes K, M, G: 10M = 10 MiB/s), smoothly")
      ->group(g);
  // A flag with an optional value: `--compress` alone means level 3 and never
  // swallows the next argument; `--compress=9` picks the level.
  app.add_flag("--compress{3}", o->compress_level,
               "Compress DATA with zstd, --compress=LEVEL for 1-19 (alone: 3), for slow links; "
               "blocks that do not shrink go uncompressed")
      ->check(CLI::Range(1, 19))
      ->group(g);
  app.add_option("--lanes", o->lanes,
                 "SSH channels a push spreads its data over, 1 for one (default: as many as the round trip "
                 "calls for, up to 16): each carries one SSH window per round trip")
      ->check(CLI::Range(1, 64))
      ->group(g);
  app.add_flag("--keep-cache", o->keep_cache,
               "Read both images through the page cache and leave them cached (default: what is not cached is "
               "read around the cache, and the cache is left as it was found)")
      ->group(g);
}

void describe_changes(CLI::App& app, CliOptions* o) {
  const char* g = "Change tracking (docs/change-tracking.md)";
  app.add_option("--changes", o->changes,
                 "Compare only what changed since the last completed run: digest (stored block digests; the target "
                 "reads nothing), bitmap:NAME (a qcow2 or NBD dirty bitmap), reflink (a reflink copy on XFS or "
                 "btrfs); anything unproven compares in full")
      ->group(g);
  app.add_option("--full-every", o->full_every,
                 "With --changes: compare in full every N runs, to catch what a tracker missed (default: never)")
      ->check(CLI::Range(1, 100000))
      ->group(g);
}

void describe_timeout(CLI::App& app, CliOptions* o) {
  // Both sides keep a quiet stream alive (PROTOCOL.md §4.16), so only a far
  // side that is hung or cut off stays silent this long.
  app.add_option("--timeout", o->timeout,
                 "Fail (exit 5, resumable) when the far side sends nothing, or takes nothing, for this many "
                 "seconds, or (exit 3) when an NBD source's server answers nothing; 0 for never (default 300)")
      ->check(CLI::Range(0, 86400))
      ->group("Transfer");
}

void describe_resume(CLI::App& app, CliOptions* o) {
  const char* g = "Resume and verification";
  app.add_flag("--verify", o->verify,
               "After the sync, compare SHA-256 of the whole source and target; exit 7 if they differ")
      ->group(g);
  app.add_flag("--restart", o->restart, "Ignore the checkpoint of an interrupted run; compare from the start")
      ->group(g);
  app.add_option("--checkpoint-interval", o->checkpoint_interval_text,
                 "Make the target durable and record a checkpoint every SIZE bytes (default 1G)")
      ->group(g);
  app.add_option("--checkpoint-seconds", o->checkpoint_seconds, "... and at least every N seconds (default 30)")
      ->check(CLI::Range(1, 86400))
      ->group(g);
  app.add_option("--retries", o->retries,
                 "Reconnect and resume up to N times when the link or the far side dies mid-run (default 3)")
      ->check(CLI::Range(0, 1000))
      ->group(g);
  app.add_option("--retry-wait", o->retry_wait,
                 "Seconds before the first retry; doubles each time, at most 300 (default 5)")
      ->check(CLI::Range(0.0, 3600.0))
      ->group(g);
  app.add_flag("--status", o->status,
               "Say whether TARGET (the only path given; host:path asks that host) has an interrupted sync to "
               "resume; sync nothing")
      ->group(g);
  app.add_flag("--rollback", o->rollback,
               "Return TARGET (the only path given; host:TARGET through the far side's server) to its state before "
               "an interrupted sync, from its undo journal")
      ->group(g);
  app.add_option("--to", o->rollback_to_text,
                 "With --rollback: the state K completed runs ago, or at a time (YYYY-MM-DD[THH:MM[:SS]], @UNIX), "
                 "from the kept generations (--keep)")
      ->group(g);
  app.add_option("--keep", o->keep,
                 "Keep the undo journals of the last N completed runs as generations, for --rollback --to "
                 "(without it, as many as the target has; 0 removes them)")
      ->check(CLI::Range(0, static_cast<int>(proto::kMaxKeepGenerations)))
      ->group(g);
  app.add_flag("--undo", o->undo,
               "Keep an undo journal for a block device target too, in $SPARSYNC_STATE_DIR (files keep one by default)")
      ->group(g);
  app.add_flag("--no-undo", o->no_undo,
               "Keep no undo journal of the blocks this run overwrites (then --rollback cannot undo it)")
      ->group(g);
  app.add_option("--max-undo", o->max_undo_text,
                 "Stop the run before its undo journal would pass SIZE (K/M/G suffixes; 0 = no cap; default: its "
                 "size now plus half the free space of its filesystem)")
      ->group(g);
}

void describe_job(CLI::App& app, CliOptions* o) {
  const char* g = "Jobs (many syncs from one file)";
  app.add_option("--job", o->job_file,
                 "Run the syncs a TOML job file lists, grouped with their pre/post commands (docs/usage.md "
                 "\"Jobs\"); one summary and exit code for all")
      ->group(g);
  app.add_option("--parallel", o->parallel,
                 "With --job: syncs running at once (default: the job file's, else the cores, at least one per "
                 "far host, at most 8)")
      ->check(CLI::Range(1, 64))
      ->group(g);
  app.add_option("--only", o->only, "With --job: run only the entry NAME (repeatable), with its group's pre/post")
      ->allow_extra_args(false)
      ->group(g);
}

void describe(CLI::App& app, CliOptions* o) {
  app.description(
      "Keep a copy of a disk image or block device in sync: only blocks that differ are sent, "
      "zero runs travel as holes.");
  app.add_option("SOURCE", o->source, "Image file or block device to copy from");
  app.add_option("TARGET", o->target, "Image file or block device to copy to (created if missing)");
  app.add_option("-b,--block-size", o->block_size_text,
                 "Comparison block size, a power of two from 4K to 4M (default 4K)");
  app.add_option("--checksum", o->checksum, "Block hash: xxh3 (default) or sha256")
      ->check(CLI::IsMember({"xxh3", "sha256"}));
  app.add_flag("-n,--dry-run", o->dry_run, "Report what differs; write nothing");
  app.add_flag("--allow-larger-target", o->allow_larger_target,
               "Sync onto a block device larger than the source (its tail is left as it is)");
  app.add_flag("--force", o->force,
               "Skip the check that a target block device is mounted (the kernel's exclusive open "
               "still refuses a device in use)");
  app.add_option("--size", o->stdin_size_text, "Size of a SOURCE read from stdin (-), e.g. 20G; required for a pipe");
  app.add_option("--source-format", o->source_format,
                 "How a SOURCE file on this host is read: raw (its bytes, the default), qcow2 (as its guest sees "
                 "it, through qemu-nbd), auto (qcow2 when it starts with qcow2's magic)")
      ->check(CLI::IsMember({"raw", "qcow2", "auto"}));
  app.add_flag("--json", o->json, "Print the summary (or the failure) as one JSON object on stdout, for scripts");
  app.add_flag("--progress", o->progress, "Progress lines on stderr even when it is not a terminal (for logs)");
  app.add_option("--progress-interval", o->progress_interval,
                 "Seconds between progress lines when stderr is not a terminal (default 5)")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--metrics-file", o->metrics_file,
                 "Write the run's figures to PATH in Prometheus text format (node_exporter textfile)");
  app.add_flag("--map", o->map, "At the end, draw where on the disk the run wrote (or would write)");
  app.add_flag_callback(
      "-q,--quiet", [o] { o->verbosity = -1; }, "Print errors only");
  app.add_flag_function(
      "-v,--verbose", [o](int64_t n) { o->verbosity = static_cast<int>(n); }, "More detail (-vv for more)");
  app.add_flag("-V,--version", o->version, "Print the version and protocol version");
  app.add_flag("--server", o->server, "Internal: run the far side of the protocol on stdin/stdout")->group("");
  // Server-side fencing, for a forced command in authorized_keys
  // (docs/security.md "Fencing the far side"); hidden like --server itself.
  app.add_option("--allow-root", o->allow_roots, "With --server: serve only paths below DIR (repeatable)")->group("");
  app.add_flag("--read-only", o->read_only, "With --server: refuse to be a target (push)")->group("");
  app.add_flag("--write-only", o->write_only, "With --server: refuse to be a source (pull)")->group("");
  describe_ssh(app, o);
}

// SOURCE "-" is stdin: a stream read once, so nothing may read it twice.
Status build_stdin_source(const CliOptions& o, SyncRequest* r) {
  r->source_stdin = o.source == "-";
  if (!o.stdin_size_text.empty()) {
    if (!r->source_stdin) return Status(ErrorKind::kUsage, "--size goes with a SOURCE read from stdin (-)");
    auto size = parse_size(o.stdin_size_text);
    if (!size) {
      return Status(ErrorKind::kUsage,
                    "--size " + o.stdin_size_text + ": give a size in bytes, e.g. 20G or 21474836480");
    }
    r->stdin_size = *size;
  }
  if (r->source_stdin && o.verify) {
    return Status(ErrorKind::kUsage, "--verify reads the source a second time, and stdin (-) can be read only once");
  }
  return Status::ok();
}

}  // namespace

Status parse_cli(int argc, char** argv, CliOptions* o) {
  CLI::App app{"sparsync", "sparsync"};
  describe(app, o);
  describe_resume(app, o);
  describe_transfer(app, o);
  describe_changes(app, o);
  describe_timeout(app, o);
  describe_job(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    o->help = true;
    o->help_text = app.help();
    return Status::ok();
  } catch (const CLI::ParseError& e) {
    return Status(ErrorKind::kUsage, std::string(e.what()) + " (see sparsync --help)");
  }
  return Status::ok();
}

Status build_request(const CliOptions& o, SyncRequest* r) {
  if (o.source.empty() || o.target.empty()) {
    return Status(ErrorKind::kUsage, "give a SOURCE and a TARGET (see sparsync --help)");
  }
  r->source = o.source;
  r->target = o.target;
  r->block_size = kDefaultBlockSize;
  if (!o.block_size_text.empty()) {
    auto bs = parse_size(o.block_size_text);
    if (!bs || !valid_block_size(*bs)) {
      return Status(ErrorKind::kUsage,
                    "--block-size " + o.block_size_text + ": give a power of two from 4K to 4M, e.g. 64K");
    }
    r->block_size = static_cast<uint32_t>(*bs);
  }
  r->hash_kind = o.checksum == "sha256" ? proto::HashKind::kSha256 : proto::HashKind::kXxh3_128;
  r->dry_run = o.dry_run;
  r->allow_larger_target = o.allow_larger_target;
  r->force = o.force;
  r->no_undo = o.no_undo;
  r->keep_cache = o.keep_cache;
  r->undo = o.undo;
  if (o.undo && o.no_undo) return Status(ErrorKind::kUsage, "--undo and --no-undo do not go together");
  r->keep = o.keep < 0 ? proto::kKeepUnchanged : static_cast<uint16_t>(o.keep);
  if (o.keep > 0 && o.no_undo) {
    return Status(ErrorKind::kUsage,
                  "--keep keeps undo journals, which --no-undo turns off (--keep 0 --no-undo "
                  "removes the kept ones)");
  }
  if (!o.max_undo_text.empty()) {
    auto cap = parse_size(o.max_undo_text);
    if (!cap) return Status(ErrorKind::kUsage, "--max-undo " + o.max_undo_text + ": give a size, e.g. 2G (0: no cap)");
    if (o.no_undo) return Status(ErrorKind::kUsage, "--max-undo and --no-undo do not go together");
    r->max_undo = *cap;
  }
  SPARSYNC_RETURN_IF_ERROR(build_stdin_source(o, r));
  r->source_format = o.source_format == "qcow2"  ? SyncRequest::SourceFormat::kQcow2
                     : o.source_format == "auto" ? SyncRequest::SourceFormat::kAuto
                                                 : SyncRequest::SourceFormat::kRaw;
  if (o.source_format != "raw" && r->source_stdin) {
    return Status(ErrorKind::kUsage,
                  "--source-format " + o.source_format + " needs a file: stdin (-) is read as raw bytes");
  }
  r->restart = o.restart;
  r->verify = o.verify;
  if (o.verify && o.dry_run) return Status(ErrorKind::kUsage, "--verify and --dry-run do not go together");
  auto interval = parse_size(o.checkpoint_interval_text);
  if (!interval || *interval < (1u << 20)) {
    return Status(ErrorKind::kUsage,
                  "--checkpoint-interval " + o.checkpoint_interval_text + ": give a size of at least 1M, e.g. 1G");
  }
  r->checkpoint_bytes = *interval;
  if (!o.bwlimit_text.empty()) {
    auto rate = parse_size(o.bwlimit_text);
    if (!rate || *rate < 1024) {
      return Status(ErrorKind::kUsage, "--bwlimit " + o.bwlimit_text + ": give a rate of at least 1K, e.g. 20M");
    }
    r->bwlimit = *rate;
  }
  r->compress_level = o.compress_level;
  r->lanes = o.lanes;
  r->checkpoint_seconds = o.checkpoint_seconds;
  r->timeout = o.timeout >= 0 ? static_cast<uint32_t>(o.timeout) : kDefaultIdleTimeout;
  return Status::ok();
}

}  // namespace sparsync
