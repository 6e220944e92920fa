#include "app/refused_run.h"

#include <ctime>

#include "app/metrics_file.h"
#include "common/log.h"

namespace sparsync {

void record_refused_run(const std::string& metrics_path, const std::string& target, const Status& refusal) {
  if (metrics_path.empty() || !check_metrics_path(metrics_path).is_ok()) return;
  MetricsRun run{target, static_cast<double>(std::time(nullptr)), 0, static_cast<int>(refusal.kind()), SyncStats{}};
  Status written = write_metrics_file(metrics_path, run);
  if (!written.is_ok()) log::error(written.message());
}

}  // namespace sparsync
