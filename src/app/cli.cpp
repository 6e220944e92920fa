#include "app/cli.h"

#include <CLI/CLI.hpp>

#include "common/units.h"

namespace sparsync {
namespace {

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
  app.add_flag_callback("-q,--quiet", [o] { o->verbosity = -1; }, "Print errors only");
  app.add_flag_function("-v,--verbose", [o](int64_t n) { o->verbosity = static_cast<int>(n); },
                        "More detail (-vv for more)");
  app.add_flag("-V,--version", o->version, "Print the version and protocol version");
  app.add_flag("--server", o->server, "Internal: run the far side of the protocol on stdin/stdout")
      ->group("");
}

}  // namespace

Status parse_cli(int argc, char** argv, CliOptions* o) {
  CLI::App app{"sparsync", "sparsync"};
  describe(app, o);
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
      return Status(ErrorKind::kUsage, "--block-size " + o.block_size_text +
                                           ": give a power of two from 4K to 4M, e.g. 64K");
    }
    r->block_size = static_cast<uint32_t>(*bs);
  }
  r->hash_kind = o.checksum == "sha256" ? proto::HashKind::kSha256 : proto::HashKind::kXxh3_128;
  r->dry_run = o.dry_run;
  r->allow_larger_target = o.allow_larger_target;
  return Status::ok();
}

}  // namespace sparsync
