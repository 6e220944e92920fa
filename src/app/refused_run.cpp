#include "app/refused_run.h"

#include <ctime>
#include <string_view>

#include "app/metrics_file.h"
#include "common/log.h"

namespace sparsync {

std::string refused_run_metrics_path(const CliOptions& options, int argc, char** argv) {
  if (options.server || options.status || options.help || options.version) return "";
  std::string path = options.metrics_file;
  constexpr std::string_view kOption = "--metrics-file";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--server" || arg == "--status" || arg == "--help" || arg == "-h") return "";
    if (!path.empty()) continue;
    if (arg == kOption && i + 1 < argc) path = argv[i + 1];
    if (arg.size() > kOption.size() + 1 && arg.substr(0, kOption.size() + 1) == "--metrics-file=") {
      path = std::string(arg.substr(kOption.size() + 1));
    }
  }
  return path;
}

void record_refused_run(const std::string& metrics_path, const std::string& target, const Status& refusal) {
  if (metrics_path.empty() || !check_metrics_path(metrics_path).is_ok()) return;
  MetricsRun run{target, static_cast<double>(std::time(nullptr)), 0, static_cast<int>(refusal.kind()), SyncStats{}};
  Status written = write_metrics_file(metrics_path, run);
  if (!written.is_ok()) log::error(written.message());
}

}  // namespace sparsync
