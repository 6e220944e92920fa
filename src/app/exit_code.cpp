#include "app/exit_code.h"

#include "common/log.h"

namespace sparsync {

int exit_code(const Status& result) {
  if (result.is_ok()) return 0;
  log::error(result.message());
  return static_cast<int>(result.kind());
}

}  // namespace sparsync
