#include "app/push_source.h"

#include <unistd.h>

#include "source/stream_source.h"

namespace sparsync {

Result<std::unique_ptr<Device>> open_push_source(const SyncRequest& r) {
  if (r.source_stdin) {
    auto stream = StreamSource::open(STDIN_FILENO, "stdin", r.stdin_size);
    if (!stream.is_ok()) return stream.status();
    return std::unique_ptr<Device>(stream.take());
  }
  // On a retry a run of our own may still hold it for a moment.
  auto file = FileDevice::open(r.source, false, ErrorKind::kSource, r.retry);
  if (!file.is_ok()) return file.status();
  std::unique_ptr<FileDevice> source = file.take();
  if (!r.keep_cache) enable_cold_reads(*source);
  return std::unique_ptr<Device>(std::move(source));
}

}  // namespace sparsync
