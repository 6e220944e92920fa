#include "app/push_source.h"

#include <unistd.h>

#include "source/nbd_source.h"
#include "source/stream_source.h"

namespace sparsync {

Result<std::unique_ptr<Device>> open_push_source(const SyncRequest& r) {
  if (r.source_stdin) {
    auto stream = StreamSource::open(STDIN_FILENO, "stdin", r.stdin_size);
    if (!stream.is_ok()) return stream.status();
    return std::unique_ptr<Device>(stream.take());
  }
  if (is_nbd_uri(r.source)) {
    auto nbd = NbdSource::connect_uri(r.source, r.timeout);
    if (!nbd.is_ok()) return nbd.status();
    return std::unique_ptr<Device>(nbd.take());
  }
  // A qcow2 image read as its guest sees it, when asked: never by default,
  // since a raw image whose guest wrote a qcow2 header at its start would
  // then be read through that header's backing file, anywhere on this host.
  const bool qcow2 = r.source_format == SyncRequest::SourceFormat::kQcow2 ||
                     (r.source_format == SyncRequest::SourceFormat::kAuto && looks_like_qcow2(r.source));
  if (qcow2) {
    auto image = NbdSource::serve_qcow2(r.source, r.timeout);
    if (!image.is_ok()) return image.status();
    return std::unique_ptr<Device>(image.take());
  }
  // On a retry a run of our own may still hold it for a moment.
  auto file = FileDevice::open(r.source, false, ErrorKind::kSource, r.retry);
  if (!file.is_ok()) return file.status();
  std::unique_ptr<FileDevice> source = file.take();
  if (!r.keep_cache) enable_cold_reads(*source);
  return std::unique_ptr<Device>(std::move(source));
}

}  // namespace sparsync
