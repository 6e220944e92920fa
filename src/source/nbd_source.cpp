#include "source/nbd_source.h"

#include <fcntl.h>
#include <libnbd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/printable.h"
#include "common/unique_fd.h"
#include "source/nbd_library.h"
#include "source/nbd_wait.h"

namespace sparsync {
namespace {

// NBD requests are at most 32 MiB on most servers; reads go in pieces well
// below that. A block status request covers at most 1 GiB (its count is 32
// bits on the wire).
constexpr size_t kMaxRead = 4u << 20;
constexpr uint64_t kMaxStatus = 1ull << 30;
// A dirty-bitmap walk asks for 2 GiB at a time, without REQ_ONE, so one
// reply covers many extents (qemu caps a reply's extent count and the walk
// goes on from where a reply ended).
constexpr uint64_t kMaxDirtyStatus = 2ull << 30;
// A dirty bitmap's context is "qemu:dirty-bitmap:" + its name; dirty is bit
// 0 of its flags (qemu's docs/interop/nbd.txt).
constexpr const char* kDirtyBitmapPrefix = "qemu:dirty-bitmap:";
constexpr uint32_t kDirtyFlag = 1;
// How long a closing source waits for the server to hang up after
// NBD_CMD_DISC before it stops asking (and kills a qemu-nbd of its own).
constexpr std::chrono::milliseconds kDisconnectWait{5000};

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

// One block-status reply's extents for the bitmap's context, added to the
// list while they lie inside the request.
struct DirtyWalk {
  const char* context = nullptr;
  ChangeList* out = nullptr;
  uint64_t end = 0;   // of the request
  uint64_t next = 0;  // where the extents seen so far end
  bool seen = false;
};

int take_dirty_extents(void* user, const char* context, uint64_t offset, uint32_t* entries, size_t count,
                       int* /*error*/) {
  auto* walk = static_cast<DirtyWalk*>(user);
  // Every registered context's extents arrive here (base:allocation's too);
  // and a server sends one reply per context per request.
  if (walk->seen || std::strcmp(context, walk->context) != 0) return 0;
  walk->seen = true;
  uint64_t at = offset;
  for (size_t i = 0; i + 1 < count && at < walk->end; i += 2) {
    const uint64_t length = std::min<uint64_t>(entries[i], walk->end - at);
    if ((entries[i + 1] & kDirtyFlag) != 0) walk->out->add(at, length);
    at += length;
  }
  walk->next = at;
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

NbdSource::NbdSource() : gate_(std::make_unique<NbdPollGate>()) {}

NbdSource::~NbdSource() { release_handle(); }

void NbdSource::release_handle() {
  if (nbd_ == nullptr) return;
  // nbd_close waits for a qemu-nbd that libnbd started: one that did not
  // hang up when asked (or hung before) is killed first, or the wait would
  // have no end. (A URI's server is not ours: the call then does nothing.)
  if (!NbdWait(*lib_, nbd_, *gate_, timeout_).disconnected(kDisconnectWait)) {
    (void)lib_->kill_subprocess(nbd_, SIGKILL);
  }
  lib_->close(nbd_);
  nbd_ = nullptr;
}

Status NbdSource::gave_up(const std::string& what) {
  (void)lib_->kill_subprocess(nbd_, SIGKILL);
  const std::string server = file_ ? "qemu-nbd, reading " + name_ + "," : "the NBD server of " + name_;
  return Status(ErrorKind::kSource, server + " answered nothing for " + std::to_string(timeout_.count() / 1000) +
                                        " s while " + what +
                                        "; check that the server runs (or give --timeout more), then run the same "
                                        "command again");
}

NbdWaitResult NbdSource::handshake(int started) {
  return started == 0 ? NbdWait(*lib_, nbd_, *gate_, timeout_).connected() : NbdWaitResult::kFailed;
}

Status NbdSource::await(int64_t cookie, const std::string& what) {
  if (gate_->closed()) return gave_up(what);
  switch (NbdWait(*lib_, nbd_, *gate_, timeout_).command(cookie)) {
    case NbdWaitResult::kDone:
      return Status::ok();
    case NbdWaitResult::kTimedOut:
      return gave_up(what);
    case NbdWaitResult::kFailed:
      break;
  }
  return Status(ErrorKind::kSource, "NBD error " + what + " of " + name_ + ": " + last_error());
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
  if (!dirty_context_.empty()) {
    dirty_bitmap_ = lib_->can_meta_context(nbd_, dirty_context_.c_str()) == 1;
    if (!dirty_bitmap_ && dirty_missing_.empty()) {
      dirty_missing_ = how + " " + name_ + " does not offer the dirty bitmap " + bitmap_ + " (no meta context " +
                       dirty_context_ + ")";
    }
  }
  return Status::ok();
}

Status NbdSource::open_handle() {
  nbd_ = lib_->create();
  if (nbd_ == nullptr) return failed("cannot start libnbd for");
  // Holes asked for when the server has them, and the dirty bitmap.
  if (lib_->add_meta_context(nbd_, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0 ||
      (!dirty_context_.empty() && lib_->add_meta_context(nbd_, dirty_context_.c_str()) != 0)) {
    return failed("cannot set up libnbd for");
  }
  return Status::ok();
}

Result<std::unique_ptr<NbdSource>> NbdSource::connect_uri(const std::string& uri, uint32_t timeout_seconds,
                                                          const std::string& bitmap) {
  auto lib = nbd_library();
  if (!lib.is_ok()) return lib.status();
  std::unique_ptr<NbdSource> s(new NbdSource());
  s->lib_ = lib.value();
  s->name_ = uri;
  s->timeout_ = std::chrono::seconds(timeout_seconds);
  s->bitmap_ = bitmap;
  if (!bitmap.empty()) s->dirty_context_ = kDirtyBitmapPrefix + bitmap;
  SPARSYNC_RETURN_IF_ERROR(s->open_handle());
  // Read-only use. A URI may not name a local file or command to run
  // (libnbd refuses those by default only for some forms): only the network
  // and Unix socket transports.
  if (s->lib_->set_uri_allow_local_file(s->nbd_, false) != 0 ||
      s->lib_->set_uri_allow_transports(s->nbd_, LIBNBD_ALLOW_TRANSPORT_TCP | LIBNBD_ALLOW_TRANSPORT_UNIX) != 0) {
    return s->failed("cannot set up libnbd for");
  }
  NbdWaitResult connected = s->handshake(s->lib_->aio_connect_uri(s->nbd_, uri.c_str()));
  if (connected == NbdWaitResult::kTimedOut) return s->gave_up("connecting");
  if (connected == NbdWaitResult::kFailed) {
    return Status(ErrorKind::kSource, "cannot connect to the NBD export " + uri + ": " + s->last_error() +
                                          "; check that its server runs and the URI names its export");
  }
  SPARSYNC_RETURN_IF_ERROR(s->connected("the NBD export"));
  return s;
}

namespace {

// A private directory (0700, mkdtemp) holding the file qemu-nbd's stderr
// goes to; removed with it. The running qemu-nbd keeps its open file.
class QemuNbdLog {
 public:
  QemuNbdLog() {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp != nullptr && *tmp == '/' ? tmp : "/tmp") + "/sparsync-qemu-nbd.XXXXXX";
    if (::mkdtemp(dir.data()) != nullptr) dir_ = dir;
  }
  ~QemuNbdLog() {
    if (dir_.empty()) return;
    (void)::unlink(path().c_str());
    (void)::rmdir(dir_.c_str());
  }
  QemuNbdLog(const QemuNbdLog&) = delete;
  QemuNbdLog& operator=(const QemuNbdLog&) = delete;
  // Where qemu-nbd writes; /dev/null when no directory could be made.
  std::string path() const { return dir_.empty() ? "/dev/null" : dir_ + "/stderr"; }
  // The last non-empty line qemu-nbd wrote, escaped; "" for none.
  std::string last_line() const {
    if (dir_.empty()) return {};
    std::ifstream in(path());
    std::string line, last;
    for (size_t n = 0; n < 1000 && std::getline(in, line); ++n) {
      if (!line.empty()) last = line;
    }
    return printable(last.substr(0, 1024));
  }

 private:
  std::string dir_;
};

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

Result<std::unique_ptr<NbdSource>> NbdSource::serve_qcow2(const std::string& path, uint32_t timeout_seconds,
                                                          const std::string& bitmap) {
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
  s->bitmap_ = bitmap;
  s->timeout_ = std::chrono::seconds(timeout_seconds);
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
  Status started = s->start_qemu_nbd(held, bitmap);
  if (!started.is_ok() && !bitmap.empty() && !s->gate_->closed()) {
    // qemu-nbd refuses to start at all when -B names a bitmap the image
    // lacks or holds inconsistent; the image is then read without it, and
    // the caller falls back to the full comparison. (An image that is no
    // qcow2 was refused earlier by qemu-img, when the bitmap was prepared.)
    s->dirty_missing_ = "qemu-nbd refused the dirty bitmap " + bitmap + " of " + path + " (missing or inconsistent)";
    s->dirty_context_.clear();
    s->release_handle();
    started = s->start_qemu_nbd(held, "");
  }
  SPARSYNC_RETURN_IF_ERROR(started);
  SPARSYNC_RETURN_IF_ERROR(s->connected("the qcow2 image"));
  return s;
}

Status NbdSource::start_qemu_nbd(const std::string& held, const std::string& bitmap) {
  dirty_context_ = bitmap.empty() ? std::string() : kDirtyBitmapPrefix + bitmap;
  SPARSYNC_RETURN_IF_ERROR(open_handle());
  // --image-opts, not a file name: qemu would read a name with a colon as a
  // protocol ("nbd:...", "json:..."). The format is given, never probed.
  const std::string opts =
      "driver=qcow2,file.driver=file,file.filename=" + image_opts_value(held) + ",file.locking=auto";
  // qemu-nbd's stderr goes to a file of ours, not the terminal: its words
  // quote the image's own metadata (a backing file's name), which whoever
  // wrote the image chose, so they are escaped before they are shown. A
  // shell only redirects and execs: the pid libnbd's socket activation
  // names in LISTEN_PID stays qemu-nbd's.
  QemuNbdLog log;
  std::vector<std::string> args{"/bin/sh",     "-c",         "exec \"$@\" 2>\"$0\"", log.path(), "qemu-nbd",
                                "--read-only", "--shared=1", "--image-opts",         opts};
  if (!bitmap.empty()) args.push_back("--bitmap=" + bitmap);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  NbdWaitResult connected = handshake(lib_->aio_connect_systemd_socket_activation(nbd_, argv.data()));
  if (connected == NbdWaitResult::kTimedOut) return gave_up("starting");
  if (connected == NbdWaitResult::kFailed) {
    const std::string said = log.last_line();
    return Status(ErrorKind::kSource, "cannot read " + name_ + " as a qcow2 image through qemu-nbd: " +
                                          (said.empty() ? last_error() : "qemu-nbd says: " + said) +
                                          " (to copy the file's bytes as they are, use --source-format raw)");
  }
  return Status::ok();
}

Status NbdSource::next_extent(uint64_t offset, uint64_t end, Extent* out) {
  *out = Extent{offset, end - offset, false};
  if (!allocation_ || offset >= end) return Status::ok();
  FirstExtent first;
  nbd_extent_callback callback{take_first_extent, &first, nullptr};
  const uint64_t count = std::min(end - offset, kMaxStatus);
  SPARSYNC_RETURN_IF_ERROR(
      await(lib_->aio_block_status(nbd_, count, offset, callback, NBD_NULL_COMPLETION, LIBNBD_CMD_FLAG_REQ_ONE),
            "asking which blocks hold data at offset " + std::to_string(offset)));
  if (!first.seen || first.length == 0) return Status::ok();  // no answer: read it
  out->length = std::min<uint64_t>(first.length, end - offset);
  out->hole = (first.flags & LIBNBD_STATE_ZERO) != 0;
  return Status::ok();
}

Status NbdSource::dirty_ranges(ChangeList* out) {
  if (!dirty_bitmap_) {
    return Status(ErrorKind::kSource,
                  !dirty_missing_.empty() ? dirty_missing_ : "no dirty bitmap was asked for from " + name_);
  }
  uint64_t offset = 0;
  while (offset < size_) {
    const uint64_t count = std::min(size_ - offset, kMaxDirtyStatus);
    DirtyWalk walk{dirty_context_.c_str(), out, offset + count, offset, false};
    nbd_extent_callback callback{take_dirty_extents, &walk, nullptr};
    SPARSYNC_RETURN_IF_ERROR(await(lib_->aio_block_status(nbd_, count, offset, callback, NBD_NULL_COMPLETION, 0),
                                   "asking which blocks of dirty bitmap " + bitmap_ + " are dirty"));
    // A reply that covers nothing would loop for ever: the server is broken.
    if (walk.next <= offset) {
      return Status(ErrorKind::kSource, "the NBD server of " + name_ + " answered no extent of dirty bitmap " +
                                            bitmap_ + " at offset " + std::to_string(offset));
    }
    offset = walk.next;
  }
  return Status::ok();
}

Status NbdSource::read_at(uint64_t offset, uint8_t* buf, size_t len) {
  while (len > 0) {
    const size_t piece = std::min(len, kMaxRead);
    SPARSYNC_RETURN_IF_ERROR(await(lib_->aio_pread(nbd_, buf, piece, offset, NBD_NULL_COMPLETION, 0),
                                   "reading at " + std::to_string(offset)));
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
