#include "source/qcow2_bitmap.h"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/device.h"
#include "common/run_program.h"

namespace sparsync {
namespace {

// qcow2's 1023 less the longest suffix sparsync adds (the owner marker's,
// ".sparsync-owner-" and 16 hex digits).
constexpr size_t kMaxBitmapName = 991;
// A new bitmap's bytes per bit when the caller names none and there is no
// earlier one to follow: qcow2's default cluster size, and what qemu itself
// picks for such images. A 2 TiB image's bitmap is then 4 MiB.
constexpr uint32_t kDefaultGranularity = 65536;
constexpr const char* kQemuPackage = "Debian: apt install qemu-utils";

// The image file held open (and locked shared, as a source is) for the
// length of one call; qemu-img opens it through its /proc link.
class HeldImage {
 public:
  static Result<std::unique_ptr<HeldImage>> open(const std::string& path) {
    auto file = FileDevice::open(path, false, ErrorKind::kSource);
    if (!file.is_ok()) return file.status();
    if (file.value()->kind() != proto::DeviceKind::kRegularFile) {
      return Status(ErrorKind::kUsage, "--changes bitmap: " + path + " is not a regular file (a qcow2 image)");
    }
    std::unique_ptr<HeldImage> held(new HeldImage());
    held->path_ = path;
    held->proc_ = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(file.value()->fd());
    // --image-opts rather than a file name: qemu reads a name with a colon
    // as a protocol, and `-f` alone would still probe one ("json:...").
    // /proc/PID/fd/N holds no comma that would need doubling.
    held->opts_ = "driver=qcow2,file.driver=file,file.filename=" + held->proc_;
    held->file_ = file.take();
    return held;
  }

  // `qemu-img info` of the image: its bitmaps.
  Result<std::vector<Qcow2Bitmap>> bitmaps() const;
  // `qemu-img bitmap OPS... IMAGE -- NAME`, the operations applied in order.
  Status bitmap(const std::vector<std::string>& ops, const std::string& name) const;

 private:
  HeldImage() = default;
  Result<ProgramRun> qemu_img(const std::vector<std::string>& args) const;
  Status failure(const ProgramRun& run, const std::string& doing) const;

  std::string path_, proc_, opts_;
  std::unique_ptr<FileDevice> file_;
};

Result<ProgramRun> HeldImage::qemu_img(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"qemu-img"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProgramLimits limits;
  limits.timeout_seconds = kQemuImgSeconds;
  return run_program(argv, limits, ErrorKind::kSource, kQemuPackage);
}

void replace_all(std::string* text, const std::string& from, const std::string& to) {
  for (size_t at = text->find(from); at != std::string::npos; at = text->find(from, at + to.size())) {
    text->replace(at, from.size(), to);
  }
}

// One line: what failed and qemu-img's own first line, which names the image
// by the path the user gave, not by its /proc link.
Status HeldImage::failure(const ProgramRun& run, const std::string& doing) const {
  if (run.timed_out) {
    return Status(ErrorKind::kSource, "qemu-img did not finish " + doing + " " + path_ + " within " +
                                          std::to_string(kQemuImgSeconds) + " s and was killed");
  }
  ProgramRun named = run;
  replace_all(&named.err, opts_, path_);
  replace_all(&named.err, proc_, path_);
  const std::string words = named.first_line();
  // qemu's image locks: another program has the image open read-write (a
  // running VM; its bitmaps are in-use while it runs) or, for a change, open
  // at all (a qemu-nbd serving it).
  if (named.err.find("Failed to get") != std::string::npos && named.err.find(" lock") != std::string::npos) {
    return Status(ErrorKind::kSource,
                  path_ + " is in use by another program (a running VM, or a qemu-nbd serving it): " + words +
                      "; a running VM is read through its backup export "
                      "(docs/libvirt-incremental.md)");
  }
  return Status(ErrorKind::kSource, "qemu-img failed " + doing + " " + path_ + ": " + words);
}

Result<std::vector<Qcow2Bitmap>> parse_bitmaps(const std::string& json, const std::string& path) {
  const nlohmann::json info = nlohmann::json::parse(json, nullptr, false);
  auto bad = [&](const std::string& why) {
    return Status(ErrorKind::kSource, "cannot read the bitmaps of " + path + ": qemu-img info " + why);
  };
  if (info.is_discarded() || !info.is_object()) return bad("printed no JSON object");
  std::vector<Qcow2Bitmap> out;
  const auto specific = info.find("format-specific");
  if (specific == info.end()) return out;
  const auto data = specific->find("data");
  if (data == specific->end() || !data->is_object()) return out;
  const auto list = data->find("bitmaps");
  if (list == data->end()) return out;  // an image without bitmaps has no such list
  if (!list->is_array()) return bad("printed a bitmaps entry that is not a list");
  for (const nlohmann::json& b : *list) {
    if (!b.is_object() || !b.contains("name") || !b["name"].is_string() || !b.contains("granularity") ||
        !b["granularity"].is_number_unsigned()) {
      return bad("printed a bitmap without a name or granularity");
    }
    Qcow2Bitmap bitmap;
    bitmap.name = b["name"].get<std::string>();
    bitmap.granularity = b["granularity"].get<uint32_t>();
    if (b.contains("flags") && b["flags"].is_array()) {
      for (const nlohmann::json& flag : b["flags"]) {
        if (flag == "auto") bitmap.enabled = true;
        if (flag == "in-use") bitmap.in_use = true;
      }
    }
    out.push_back(std::move(bitmap));
  }
  return out;
}

Result<std::vector<Qcow2Bitmap>> HeldImage::bitmaps() const {
  // Not -U (--force-share): an image that a running VM has open read-write
  // shows all its bitmaps in-use, which would read as a crash. Without it,
  // qemu-img refuses such an image and says it is locked.
  auto run = qemu_img({"info", "--output=json", "--image-opts", opts_});
  if (!run.is_ok()) return run.status();
  if (run.value().exit_code != 0) return failure(run.value(), "reading");
  return parse_bitmaps(run.value().out, path_);
}

Status HeldImage::bitmap(const std::vector<std::string>& ops, const std::string& name) const {
  std::vector<std::string> args{"bitmap"};
  args.insert(args.end(), ops.begin(), ops.end());
  // "--": a bitmap name may start with a dash.
  for (const std::string& a : {std::string("--image-opts"), opts_, std::string("--"), name}) args.push_back(a);
  auto run = qemu_img(args);
  if (!run.is_ok()) return run.status();
  if (run.value().exit_code != 0) return failure(run.value(), "changing bitmap " + name + " of");
  return Status::ok();
}

const Qcow2Bitmap* find(const std::vector<Qcow2Bitmap>& bitmaps, const std::string& name) {
  auto it = std::find_if(bitmaps.begin(), bitmaps.end(), [&](const Qcow2Bitmap& b) { return b.name == name; });
  return it == bitmaps.end() ? nullptr : &*it;
}

// Why a bitmap cannot be trusted to hold every write since it began; "" when
// it can.
std::string distrust(const Qcow2Bitmap& b) {
  if (b.in_use) {
    return "was left in-use by a writer that never closed the image (killed, or the host crashed), so writes may "
           "be missing from it";
  }
  if (!b.enabled) return "is disabled (by hand, or by an interrupted rotation), so writes may be missing from it";
  return "";
}

std::vector<std::string> add_ops(uint32_t granularity) { return {"--add", "-g", std::to_string(granularity)}; }

}  // namespace

std::string next_bitmap_name(const std::string& name) { return name + ".sparsync-next"; }

Status check_bitmap_name(const std::string& name) {
  if (name.empty()) return Status(ErrorKind::kUsage, "--changes bitmap: needs a bitmap name (bitmap:NAME)");
  if (name.size() > kMaxBitmapName) {
    return Status(ErrorKind::kUsage,
                  "--changes bitmap: the bitmap name is longer than " + std::to_string(kMaxBitmapName) + " bytes");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      return Status(ErrorKind::kUsage, "--changes bitmap: the bitmap name holds a control character");
    }
  }
  return Status::ok();
}

std::string owner_bitmap_name(const std::string& name, const std::string& tag) {
  return name + ".sparsync-owner-" + tag;
}

Status claim_bitmap(const std::string& path, const std::string& name, const std::string& tag, bool look_only) {
  auto held = HeldImage::open(path);
  if (!held.is_ok()) return held.status();
  auto all = held.value()->bitmaps();
  if (!all.is_ok()) return all.status();
  const std::string prefix = name + ".sparsync-owner-";
  const std::string mine = owner_bitmap_name(name, tag);
  for (const Qcow2Bitmap& b : all.value()) {
    if (b.name == mine) return Status::ok();
    if (b.name.rfind(prefix, 0) == 0) {
      return Status(ErrorKind::kUsage, "the bitmap " + name + " of " + path +
                                           " already tracks the changes sent to another target (its "
                                           "marker " +
                                           b.name +
                                           "): a bitmap is rotated by the run it serves, so each target needs its own; "
                                           "give this one another name (--changes bitmap:" +
                                           name + "-2)");
    }
  }
  if (look_only) return Status::ok();
  // The largest granularity qemu takes: the marker holds no changes.
  return held.value()->bitmap({"--add", "-g", "2147483648", "--disable"}, mine);
}

Result<std::vector<Qcow2Bitmap>> list_bitmaps(const std::string& path) {
  auto held = HeldImage::open(path);
  if (!held.is_ok()) return held.status();
  return held.value()->bitmaps();
}

Result<std::optional<Qcow2Bitmap>> inspect_bitmap(const std::string& path, const std::string& name) {
  auto all = list_bitmaps(path);
  if (!all.is_ok()) return all.status();
  const Qcow2Bitmap* b = find(all.value(), name);
  return b != nullptr ? std::optional<Qcow2Bitmap>(*b) : std::nullopt;
}

const char* bitmap_state_name(BitmapState state) {
  switch (state) {
    case BitmapState::kReady:
      return "ready";
    case BitmapState::kCreated:
      return "created";
    case BitmapState::kRecreated:
      return "recreated";
  }
  return "?";
}

Result<BitmapPreparation> prepare_bitmap(const std::string& path, const std::string& name, uint32_t granularity) {
  SPARSYNC_RETURN_IF_ERROR(check_bitmap_name(name));
  auto held = HeldImage::open(path);
  if (!held.is_ok()) return held.status();
  auto bitmaps = held.value()->bitmaps();
  if (!bitmaps.is_ok()) return bitmaps.status();
  const Qcow2Bitmap* current = find(bitmaps.value(), name);
  const std::string next = next_bitmap_name(name);
  const Qcow2Bitmap* helper = find(bitmaps.value(), next);

  BitmapPreparation prep;
  std::vector<std::string> name_ops;
  if (current == nullptr) {
    prep.state = BitmapState::kCreated;
    prep.granularity = granularity != 0 ? granularity : kDefaultGranularity;
    prep.reason = "bitmap " + name + " did not exist in " + path + "; created now, so this run compares in full";
    name_ops = add_ops(prep.granularity);
  } else if (const std::string why = distrust(*current); !why.empty()) {
    prep.state = BitmapState::kRecreated;
    prep.granularity = current->granularity;
    prep.reason = "bitmap " + name + " of " + path + " " + why + "; created again, so this run compares in full";
    name_ops = {"--remove"};
    for (std::string& op : add_ops(prep.granularity)) name_ops.push_back(std::move(op));
  } else {
    prep.state = BitmapState::kReady;
    prep.granularity = current->granularity;
  }

  // The helper: kept when it can be trusted and matches NAME (rotation merges
  // it into NAME); else made anew, beginning now.
  std::vector<std::string> helper_ops;
  if (helper == nullptr) {
    helper_ops = add_ops(prep.granularity);
  } else if (!distrust(*helper).empty() || helper->granularity != prep.granularity) {
    helper_ops = {"--remove"};
    for (std::string& op : add_ops(prep.granularity)) helper_ops.push_back(std::move(op));
  }

  // Each call opens the image read-write and so changes it; none is made
  // when nothing must change, so an image prepared twice keeps its ctime.
  if (!name_ops.empty()) SPARSYNC_RETURN_IF_ERROR(held.value()->bitmap(name_ops, name));
  if (!helper_ops.empty()) SPARSYNC_RETURN_IF_ERROR(held.value()->bitmap(helper_ops, next));
  prep.image_changed = !name_ops.empty() || !helper_ops.empty();
  return prep;
}

Status retire_bitmap(const std::string& path, const std::string& name) {
  SPARSYNC_RETURN_IF_ERROR(check_bitmap_name(name));
  auto held = HeldImage::open(path);
  if (!held.is_ok()) return held.status();
  auto bitmaps = held.value()->bitmaps();
  if (!bitmaps.is_ok()) return bitmaps.status();
  const std::string next = next_bitmap_name(name);
  const Qcow2Bitmap* helper = find(bitmaps.value(), next);
  const std::string kept = "; bitmap " + name + " is kept as it was, and the next run reads more than it must";
  if (helper == nullptr) {
    return Status(ErrorKind::kSource,
                  "cannot rotate bitmap " + name + " of " + path + ": its helper " + next + " is missing" + kept);
  }
  if (const std::string why = distrust(*helper); !why.empty()) {
    return Status(ErrorKind::kSource,
                  "cannot rotate bitmap " + name + " of " + path + ": its helper " + next + " " + why + kept);
  }
  const Qcow2Bitmap* current = find(bitmaps.value(), name);

  // NAME := the helper, in one qemu-img call. NAME is disabled first and
  // enabled last: qemu-img stores what it has done even when a later
  // operation fails, and a NAME left cleared but not merged would look
  // complete while missing every write since the run began. Left disabled,
  // the next prepare_bitmap() distrusts it and the next run compares in full.
  std::vector<std::string> ops;
  if (current == nullptr || current->in_use || current->granularity != helper->granularity) {
    if (current != nullptr) ops.emplace_back("--remove");
    for (std::string& op : add_ops(helper->granularity)) ops.push_back(std::move(op));
    ops.emplace_back("--disable");
  } else {
    ops = {"--disable", "--clear"};
  }
  for (const std::string& op : {std::string("--merge"), next, std::string("--enable")}) ops.push_back(op);
  SPARSYNC_RETURN_IF_ERROR(held.value()->bitmap(ops, name));

  // Then the helper goes. No write is lost in between, nor while either call
  // runs: qemu-img holds the image's write lock for each call, so nothing
  // writes during one; a VM started between the two writes into both enabled
  // bitmaps, NAME included. Should this removal fail, the helper stays
  // consistent and a superset, and the next prepare keeps it.
  return held.value()->bitmap({"--remove"}, next);
}

}  // namespace sparsync
