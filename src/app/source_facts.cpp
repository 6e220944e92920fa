#include "app/source_facts.h"

#include <sys/stat.h>

#include "common/in_use.h"

namespace sparsync {

std::string SourceFacts::live_warning(const std::string& name) const {
  return "warning: source " + name + " is live (" + live +
         "): blocks written during the run may be copied torn; sync from a snapshot for a consistent copy";
}

SourceFacts source_facts(const Device& source) {
  SourceFacts facts;
  facts.mode = source.permissions();
  const auto* file = dynamic_cast<const FileDevice*>(&source);
  struct stat st {};
  if (file != nullptr && source.kind() == proto::DeviceKind::kBlockDevice && ::fstat(file->fd(), &st) == 0) {
    facts.live = live_use(st.st_rdev);
  }
  return facts;
}

}  // namespace sparsync
