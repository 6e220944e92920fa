// NbdSource: a source read through NBD with libnbd (issue 18): an export
// given as an NBD URI (`nbd://host/export`, `nbd+unix:///export?socket=PATH`),
// or a qcow2 image read as its guest sees it, served by a qemu-nbd that
// sparsync starts itself, read-only, through libnbd's systemd socket
// activation, and that ends when the source is closed.
//
// Holes come from the export's `base:allocation` context: a range the server
// says reads as zeros (NBD_STATE_ZERO) is a hole and is not read; a range
// that is unallocated but not known to read as zeros (a qcow2 backing file
// shows through it) is read. A server without the context is all data.
//
// Dirty bitmaps (`--changes bitmap:NAME`): asked for by name, the export's
// `qemu:dirty-bitmap:NAME` context is registered beside base:allocation,
// and dirty_ranges() lists what it marks dirty (bit 0 of its flags). A
// qcow2 image's bitmap is exported by the qemu-nbd started here (-B NAME);
// source/qcow2_bitmap.h keeps it. An export that does not offer the bitmap
// (another name, a server that has none, a qemu-nbd that refused it as
// missing or inconsistent) is still read, in full: has_dirty_bitmap() is
// false and dirty_ranges() says why, so the caller falls back to the full
// comparison with that line.
//
// identity(): a qcow2 image is named by its file (FileDevice's identity, with
// the file held open and locked shared for the run, as any source file is),
// so an interrupted run resumes; an export given as a URI has none (another
// process serves it and may change it unseen), so each run compares from the
// start. Writes are refused.
// Every wait for the server has a bound (source/nbd_wait.h): a server that
// answers nothing for the run's --timeout fails the run (exit 3, target
// resumable), and a qemu-nbd started here is killed then.
// Thread-safety: libnbd serialises calls on one handle; read_at and
// next_extent may be called from different threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/change_list.h"
#include "common/device.h"
#include "source/read_only_source.h"

struct nbd_handle;

namespace sparsync {

struct NbdLibrary;
class NbdPollGate;
enum class NbdWaitResult;

// True for a SOURCE that names an NBD export (nbd://, nbds://, nbd+unix://,
// nbds+unix://), which is never a path on this or another host.
bool is_nbd_uri(const std::string& text);

// True when the regular file `path` starts with the qcow2 magic "QFI\xfb".
bool looks_like_qcow2(const std::string& path);

class NbdSource : public ReadOnlySource {
 public:
  ~NbdSource() override;
  // `bitmap`: the name of the dirty bitmap to ask the export for ("": none).
  // `timeout_seconds`: how long the server may answer nothing (0: for ever).
  static Result<std::unique_ptr<NbdSource>> connect_uri(const std::string& uri, uint32_t timeout_seconds,
                                                        const std::string& bitmap = "");
  // `path` read as a qcow2 image: qemu-nbd started read-only on it,
  // exporting the persistent bitmap `bitmap` too unless it is "".
  static Result<std::unique_ptr<NbdSource>> serve_qcow2(const std::string& path, uint32_t timeout_seconds,
                                                        const std::string& bitmap = "");

  // True when a bitmap was asked for and the export offers it.
  bool has_dirty_bitmap() const { return dirty_bitmap_; }
  // Adds to `out`, in increasing order, every range of the export that the
  // bitmap marks dirty, at the bitmap's granularity (the last one clipped to
  // the export's size). Without the bitmap: kSource saying why (no bitmap
  // asked for, or the export does not offer it), and `out` untouched.
  Status dirty_ranges(ChangeList* out);

  const std::string& path() const override { return name_; }
  proto::DeviceKind kind() const override { return proto::DeviceKind::kRegularFile; }
  uint64_t size() const override { return size_; }
  Status next_extent(uint64_t offset, uint64_t end, Extent* out) override;
  Status read_at(uint64_t offset, uint8_t* buf, size_t len) override;
  std::string identity() const override;
  Status check_unchanged() const override;
  uint32_t permissions() const override;

 private:
  NbdSource();
  Status connected(const std::string& how);
  // A new handle asking for base:allocation and, when dirty_context_ is
  // set, the bitmap's context.
  Status open_handle();
  // qemu-nbd on the held file `held`, exporting `bitmap` unless it is "".
  Status start_qemu_nbd(const std::string& held, const std::string& bitmap);
  Status failed(const std::string& what) const;
  std::string last_error() const;
  // After an nbd_aio_connect_* call that returned `started`: its handshake,
  // bounded by the timeout.
  NbdWaitResult handshake(int started);
  // Waits for the aio command `cookie`; `what` names it in a failure.
  Status await(int64_t cookie, const std::string& what);
  // After a wait that gave up: the handle is never polled again, and a
  // qemu-nbd started here is killed.
  Status gave_up(const std::string& what);
  // Disconnects (bounded), ends a qemu-nbd started here, closes the handle.
  void release_handle();

  const NbdLibrary* lib_ = nullptr;  // source/nbd_library.h
  nbd_handle* nbd_ = nullptr;
  std::chrono::milliseconds timeout_{0};
  // Shared by the waits on nbd_: closed once one gave up (source/nbd_wait.h).
  std::unique_ptr<NbdPollGate> gate_;
  std::string name_;                  // the URI, or the image's path
  std::unique_ptr<FileDevice> file_;  // a qcow2 image's file, held locked for the run
  uint64_t size_ = 0;
  bool allocation_ = false;    // the server answers base:allocation
  std::string bitmap_;         // the dirty bitmap asked for, or ""
  std::string dirty_context_;  // "qemu:dirty-bitmap:" + bitmap_, or ""
  bool dirty_bitmap_ = false;  // the server answers dirty_context_
  std::string dirty_missing_;  // why not, when a bitmap was asked for
};

}  // namespace sparsync
