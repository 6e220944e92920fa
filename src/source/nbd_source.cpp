#include "source/nbd_source.h"

#include <fcntl.h>
#include <libnbd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/unique_fd.h"
#include "source/nbd_library.h"

namespace sparsync {
namespace {

// NBD requests are at most 32 MiB on most servers; reads go in pieces well
// below that. A block status request covers at most 1 GiB (its count is 32
// bits on the wire).
constexpr size_t kMaxRead = 4u << 20;
constexpr uint64_t kMaxStatus = 1ull << 30;

// qemu's image options: a comma in a value is written twice.
std::string image_opts_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

struct FirstExtent {
  uint64_t length = 0;
  uint32_t flags = 0;
  bool seen = false;
};

int take_first_extent(void* user, const char* context, uint64_t /*offset*/, uint32_t* entries, size_t count,
                      int* /*error*/) {
  auto* first = static_cast<FirstExtent*>(user);
  if (first->seen || count < 2 || std::strcmp(context, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0) return 0;
  first->length = entries[0];
  first->flags = entries[1];
  first->seen = true;
  return 0;
}

}  // namespace

bool is_nbd_uri(const std::string& text) {
  for (const char* scheme : {"nbd://", "nbds://", "nbd+unix://", "nbds+unix://"}) {
    if (text.rfind(scheme, 0) == 0) return true;
  }
  return false;
}

bool looks_like_qcow2(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  unsigned char magic[4] = {};
  return fd.valid() && ::pread(fd.get(), magic, sizeof magic, 0) == 4 && magic[0] == 'Q' && magic[1] == 'F' &&
         magic[2] == 'I' && magic[3] == 0xfb;
}

NbdSource::~NbdSource() {
  // Closing the handle ends a qemu-nbd that libnbd started (and waits for it).
  if (nbd_ != nullptr) {
    (void)lib_->shutdown(nbd_, 0);
    lib_->close(nbd_);
  }
}

std::string NbdSource::last_error() const {
  const char* e = lib_->get_error();
  return e != nullptr ? e : "unknown libnbd error";
}

Status NbdSource::failed(const std::string& what) const {
  return Status(ErrorKind::kSource, what + " " + name_ + ": " + last_error());
}

// After the connection: the size, and whether holes can be asked for.
Status NbdSource::connected(const std::string& how) {
  const int64_t size = lib_->get_size(nbd_);
  if (size < 0) return failed("cannot get the size of " + how);
  size_ = static_cast<uint64_t>(size);
  allocation_ = lib_->can_meta_context(nbd_, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  return Status::ok();
}

Result<std::unique_ptr<NbdSource>> NbdSource::connect_uri(const std::string& uri) {
  auto lib = nbd_library();
  if (!lib.is_ok()) return lib.status();
  std::unique_ptr<NbdSource> s(new NbdSource());
  s->lib_ = lib.value();
  s->name_ = uri;
  s->nbd_ = s->lib_->create();
  if (s->nbd_ == nullptr) return s->failed("cannot start libnbd for");
  // Read-only use; holes asked for when the server has them. A URI may not
  // name a local file or command to run (libnbd refuses those by default
  // only for some forms): only the network and Unix socket transports.
  if (s->lib_->add_meta_context(s->nbd_, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0 ||
      s->lib_->set_uri_allow_local_file(s->nbd_, false) != 0 ||
      s->lib_->set_uri_allow_transports(s->nbd_, LIBNBD_ALLOW_TRANSPORT_TCP | LIBNBD_ALLOW_TRANSPORT_UNIX) != 0) {
    return s->failed("cannot set up libnbd for");
  }
  if (s->lib_->connect_uri(s->nbd_, uri.c_str()) != 0) {
    return Status(ErrorKind::kSource, "cannot connect to the NBD export " + uri + ": " + s->last_error() +
                                          "; check that its server runs and the URI names its export");
  }
  SPARSYNC_RETURN_IF_ERROR(s->connected("the NBD export"));
  return s;
}

namespace {

// libnbd runs qemu-nbd by PATH lookup; its absence is worth its own line.
bool qemu_nbd_on_path() {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = end > start ? dirs.substr(start, end - start) : ".";
    if (::access((dir + "/qemu-nbd").c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<NbdSource>> NbdSource::serve_qcow2(const std::string& path) {
  if (!qemu_nbd_on_path()) {
    return Status(ErrorKind::kUsage,
                  "--source-format qcow2 reads the image through qemu-nbd, which is not on PATH "
                  "(Debian: apt install qemu-utils)");
  }
  auto lib = nbd_library();
  if (!lib.is_ok()) return lib.status();
  std::unique_ptr<NbdSource> s(new NbdSource());
  s->lib_ = lib.value();
  s->name_ = path;
  // The file itself, opened as any source is (no symlink of another user,
  // no FIFO, locked shared): its identity names the image for resume, and no
  // sparsync run writes it while this one reads it.
  auto file = FileDevice::open(path, false, ErrorKind::kSource);
  if (!file.is_ok()) return file.status();
  if (file.value()->kind() != proto::DeviceKind::kRegularFile) {
    return Status(ErrorKind::kUsage, "--source-format qcow2: " + path + " is not a regular file");
  }
  // qemu-nbd opens the very file held here, through its /proc link: a name
  // swapped for something else since it was checked cannot be what it reads.
  const std::string held = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(file.value()->fd());
  s->file_ = file.take();
  s->nbd_ = s->lib_->create();
  if (s->nbd_ == nullptr) return s->failed("cannot start libnbd for");
  if (s->lib_->add_meta_context(s->nbd_, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return s->failed("cannot set up libnbd for");
  // --image-opts, not a file name: qemu would read a name with a colon as a
  // protocol ("nbd:...", "json:..."). The format is given, never probed.
  const std::string opts =
      "driver=qcow2,file.driver=file,file.filename=" + image_opts_value(held) + ",file.locking=auto";
  std::vector<std::string> args{"qemu-nbd", "--read-only", "--shared=1", "--image-opts", opts};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (s->lib_->connect_systemd_socket_activation(s->nbd_, argv.data()) != 0) {
    return Status(
        ErrorKind::kSource,
        "cannot read " + path + " as a qcow2 image through qemu-nbd: " + s->last_error() +
            " (qemu-nbd's own words are above; to copy the file's bytes as they are, use --source-format raw)");
  }
  SPARSYNC_RETURN_IF_ERROR(s->connected("the qcow2 image"));
  return s;
}

Status NbdSource::next_extent(uint64_t offset, uint64_t end, Extent* out) {
  *out = Extent{offset, end - offset, false};
  if (!allocation_ || offset >= end) return Status::ok();
  FirstExtent first;
  nbd_extent_callback callback{take_first_extent, &first, nullptr};
  const uint64_t count = std::min(end - offset, kMaxStatus);
  if (lib_->block_status(nbd_, count, offset, callback, LIBNBD_CMD_FLAG_REQ_ONE) != 0) {
    return failed("cannot ask which blocks hold data of");
  }
  if (!first.seen || first.length == 0) return Status::ok();  // no answer: read it
  out->length = std::min<uint64_t>(first.length, end - offset);
  out->hole = (first.flags & LIBNBD_STATE_ZERO) != 0;
  return Status::ok();
}

Status NbdSource::read_at(uint64_t offset, uint8_t* buf, size_t len) {
  while (len > 0) {
    const size_t piece = std::min(len, kMaxRead);
    if (lib_->pread(nbd_, buf, piece, offset, 0) != 0)
      return failed("cannot read at " + std::to_string(offset) + " of");
    buf += piece;
    offset += piece;
    len -= piece;
  }
  return Status::ok();
}

std::string NbdSource::identity() const { return file_ ? "qcow2:" + file_->identity() : std::string(); }

Status NbdSource::check_unchanged() const { return file_ ? file_->check_unchanged() : Status::ok(); }

uint32_t NbdSource::permissions() const { return file_ ? file_->permissions() : 0; }

}  // namespace sparsync
