// The persistent dirty bitmaps of a qcow2 image that sparsync keeps itself
// for `--changes bitmap:NAME` on an image it opens (issue 18): seeing what
// the image holds, preparing NAME and a helper bitmap before a run, and
// rotating them once the target has confirmed the run durable. It drives
// qemu-img (argv only, never a shell; at most kQemuImgSeconds per call, then
// killed); every call opens the image as qcow2 (never probing the format)
// through the /proc/PID/fd link of the file held open, and locked shared,
// for the call, as NbdSource::serve_qcow2 does, so a name swapped meanwhile
// is never what qemu-img changes; qemu-img's words name the path given.
//
// Two bitmaps, because the run's dirty ranges must come from a bitmap that
// stops at the run's start, while writes from that start on must still be
// recorded for the next run:
//   NAME         every write since the last completed run (or since NAME was
//                created): the ranges this run reads.
//   NAME.sparsync-next (next_bitmap_name) every write since this run began
//                (or since an earlier failed run began: a superset).
// prepare_bitmap() before the run (and before qemu-nbd opens the image: a
// qemu-nbd serving it, even read-only, holds a lock that keeps qemu-img
// from writing it); retire_bitmap() after the target confirmed the run
// durable and the NbdSource is closed: NAME := NAME.sparsync-next.
//
// What these functions do not decide: whether this run may trust NAME. kReady
// says only that NAME is consistent and records every write since it was
// created or last retired; that the target holds exactly the image as of
// that point is the target binding's to prove (a failed first run leaves a
// kReady NAME and a target that is not its starting point).
//
// An image open read-write elsewhere (a running VM, a read-write qemu-nbd)
// is refused in one line that says so: its bitmaps are marked in-use while
// it runs, and qemu-img may not change them. A running VM is backed up
// through its pull-mode backup export instead (docs/libvirt-incremental.md).
// Thread-safety: reentrant; two calls on one image at once exclude each
// other only through qemu's image lock (one of them fails).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace sparsync {

inline constexpr int kQemuImgSeconds = 60;

// NAME + ".sparsync-next": the helper bitmap that records writes from the
// start of the run on.
std::string next_bitmap_name(const std::string& name);

// A name qemu and these functions accept: 1 to 991 bytes (qcow2 allows
// 1023, and the helper's and owner marker's suffixes must fit), no control
// character. kUsage
// otherwise.
Status check_bitmap_name(const std::string& name);

// One persistent bitmap of a qcow2 image, from `qemu-img info`.
struct Qcow2Bitmap {
  std::string name;
  uint32_t granularity = 0;  // bytes per bit
  // Flag "auto": recording writes whenever the image is open read-write.
  bool enabled = false;
  // Flag "in-use": a writer opened the image and never closed it (it was
  // killed, or the host crashed); writes since may be missing, and qemu
  // refuses the bitmap ("inconsistent").
  bool in_use = false;
  bool operator==(const Qcow2Bitmap&) const = default;
};

// Every persistent bitmap of the image at `path`, in its order. kSource for
// an image that cannot be read as qcow2 or is open read-write elsewhere.
Result<std::vector<Qcow2Bitmap>> list_bitmaps(const std::string& path);

// The bitmap `name` of the image, or nullopt when it has none by that name.
Result<std::optional<Qcow2Bitmap>> inspect_bitmap(const std::string& path, const std::string& name);

enum class BitmapState {
  kReady,      // NAME existed, enabled and consistent: its dirty ranges may be used
  kCreated,    // NAME did not exist: created now; this run compares in full
  kRecreated,  // NAME was in-use or disabled: removed and created again; full
};

const char* bitmap_state_name(BitmapState state);  // "ready", "created", "recreated"

struct BitmapPreparation {
  BitmapState state = BitmapState::kReady;
  std::string reason;          // kCreated, kRecreated: one line saying why
  uint32_t granularity = 0;    // NAME's, as it is now
  bool image_changed = false;  // qemu-img wrote the image (its ctime moved)
};

// Before a run: makes NAME usable (see BitmapState) and makes sure the
// helper next_bitmap_name(name) exists, enabled and consistent, so that
// every write from now on is recorded in both. A helper left consistent by
// a failed run is kept (it began earlier: a superset); one in-use, disabled
// or of another granularity than NAME is created again. A bitmap created
// here gets `granularity` bytes per bit (0: 64 KiB, qcow2's default cluster
// size), or the granularity of the one it replaces. The image is written
// only when something must change: preparing it twice leaves it untouched
// (its ctime too) the second time.
Result<BitmapPreparation> prepare_bitmap(const std::string& path, const std::string& name, uint32_t granularity = 0);

// After the target confirmed the run durable (and with no qemu-nbd serving
// the image): NAME := the helper, then the helper is removed, so NAME holds
// exactly the writes since this run began. kSource, with NAME left as it
// was (a superset for the next run), when the helper is missing, in-use or
// disabled.
Status retire_bitmap(const std::string& path, const std::string& name);

// A bitmap is rotated by the run it serves, so it can serve one target
// only: a second target's runs would never see what the first one's
// rotations cleared. The image itself says whose NAME is: an empty, disabled
// marker bitmap "NAME.sparsync-owner-TAG" (owner_bitmap_name), made by the
// first run that claims NAME. claim_bitmap() makes it when there is none
// (unless `look_only`, a dry run), and refuses (kUsage, naming the other
// marker and what to do) when another tag's marker is there.
std::string owner_bitmap_name(const std::string& name, const std::string& tag);
Status claim_bitmap(const std::string& path, const std::string& name, const std::string& tag, bool look_only);

}  // namespace sparsync
