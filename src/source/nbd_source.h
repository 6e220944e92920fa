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
// identity(): a qcow2 image is named by its file (FileDevice's identity, with
// the file held open and locked shared for the run, as any source file is),
// so an interrupted run resumes; an export given as a URI has none (another
// process serves it and may change it unseen), so each run compares from the
// start. Writes are refused.
// Thread-safety: libnbd serialises calls on one handle; read_at and
// next_extent may be called from different threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/device.h"
#include "source/read_only_source.h"

struct nbd_handle;

namespace sparsync {

struct NbdLibrary;

// True for a SOURCE that names an NBD export (nbd://, nbds://, nbd+unix://,
// nbds+unix://), which is never a path on this or another host.
bool is_nbd_uri(const std::string& text);

// True when the regular file `path` starts with the qcow2 magic "QFI\xfb".
bool looks_like_qcow2(const std::string& path);

class NbdSource : public ReadOnlySource {
 public:
  ~NbdSource() override;
  static Result<std::unique_ptr<NbdSource>> connect_uri(const std::string& uri);
  // `path` read as a qcow2 image: qemu-nbd started read-only on it.
  static Result<std::unique_ptr<NbdSource>> serve_qcow2(const std::string& path);

  const std::string& path() const override { return name_; }
  proto::DeviceKind kind() const override { return proto::DeviceKind::kRegularFile; }
  uint64_t size() const override { return size_; }
  Status next_extent(uint64_t offset, uint64_t end, Extent* out) override;
  Status read_at(uint64_t offset, uint8_t* buf, size_t len) override;
  std::string identity() const override;
  Status check_unchanged() const override;
  uint32_t permissions() const override;

 private:
  NbdSource() = default;
  Status connected(const std::string& how);
  Status failed(const std::string& what) const;
  std::string last_error() const;

  const NbdLibrary* lib_ = nullptr;  // source/nbd_library.h
  nbd_handle* nbd_ = nullptr;
  std::string name_;                  // the URI, or the image's path
  std::unique_ptr<FileDevice> file_;  // a qcow2 image's file, held locked for the run
  uint64_t size_ = 0;
  bool allocation_ = false;  // the server answers base:allocation
};

}  // namespace sparsync
