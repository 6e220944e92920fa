#include "common/undo_generations.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>

#include "common/unique_fd.h"

namespace sparsync {
namespace {

constexpr char kGenTag[] = ".gen";
constexpr char kUndoingTag[] = ".undoing";

// "<journal>.gen12" -> 12; nullopt for anything else ("gen012" included, so
// one seq has one name).
std::optional<uint64_t> seq_after(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  const std::string digits = name.substr(prefix.size());
  if (digits.size() > 18 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::stoull(digits);
}

Status cannot_list(const RecordPlace& journal, int err) {
  return errno_status(ErrorKind::kTarget, "cannot list the kept generations in " + journal.dir_shown, err);
}

}  // namespace

std::string kept_generations_text(size_t n) {
  return n == 1 ? "1 kept generation" : std::to_string(n) + " kept generations";
}

std::string generation_name(const std::string& journal_name, uint64_t seq) {
  return journal_name + kGenTag + std::to_string(seq);
}

std::string undoing_name(const std::string& journal_name, uint64_t seq) {
  return journal_name + kUndoingTag + std::to_string(seq);
}

Result<RecordPlace> place_beside(const RecordPlace& journal, const std::string& name) {
  RecordPlace place;
  place.dir.reset(::fcntl(journal.dir.get(), F_DUPFD_CLOEXEC, 0));
  if (!place.dir.valid()) return errno_status(ErrorKind::kTarget, "cannot open " + journal.dir_shown, errno);
  place.dir_shown = journal.dir_shown;
  place.name = name;
  return place;
}

Result<std::vector<UndoGeneration>> list_undo_generations(const RecordPlace& journal) {
  // A descriptor of its own: readdir moves the offset of the one it reads.
  UniqueFd fd(::openat(journal.dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return cannot_list(journal, errno);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(fd.get()), ::closedir);
  if (!dir) return cannot_list(journal, errno);
  (void)fd.release();
  const std::string gen_prefix = journal.name + kGenTag;
  const std::string undoing_prefix = journal.name + kUndoingTag;
  std::vector<UndoGeneration> found;
  // readdir tells its end from its failure only by errno, which the checks
  // of each entry also set.
  for (errno = 0; const dirent* entry = ::readdir(dir.get()); errno = 0) {
    const std::string name = entry->d_name;
    UndoGeneration g;
    if (auto seq = seq_after(name, gen_prefix)) {
      g.seq = *seq;
    } else if (auto undoing = seq_after(name, undoing_prefix)) {
      g.seq = *undoing;
      g.undoing = true;
    } else {
      continue;
    }
    g.name = name;
    auto place = place_beside(journal, name);
    if (!place.is_ok()) return place.status();
    bool foreign = false;
    Status read = read_undo_facts(place.value(), &g.facts, &foreign);
    // Planted by someone else, or not a journal at all: not ours to apply.
    if (!read.is_ok() && foreign) continue;
    if (!read.is_ok()) return read;
    if (!g.facts.exists) continue;  // removed while we listed
    found.push_back(std::move(g));
  }
  if (errno != 0) return cannot_list(journal, errno);
  std::sort(found.begin(), found.end(), [](const UndoGeneration& a, const UndoGeneration& b) { return a.seq > b.seq; });
  return found;
}

Status flush_generations(const RecordPlace& journal) { return fsync_directory(journal.dir.get(), journal.dir_shown); }

Status drop_undo_generations(const RecordPlace& journal, const std::vector<UndoGeneration>& generations,
                             uint32_t keep) {
  bool removed = false;
  for (size_t i = keep; i < generations.size(); ++i) {
    if (::unlinkat(journal.dir.get(), generations[i].name.c_str(), 0) != 0 && errno != ENOENT) {
      return errno_status(ErrorKind::kTarget,
                          "cannot remove kept generation " + journal.dir_shown + "/" + generations[i].name, errno);
    }
    removed = true;
  }
  return removed ? flush_generations(journal) : Status::ok();
}

Status retire_undo_journal(const RecordPlace& journal, uint32_t keep, uint32_t* kept) {
  if (kept != nullptr) *kept = 0;
  auto generations = list_undo_generations(journal);
  if (!generations.is_ok()) return generations.status();
  std::vector<UndoGeneration>& all = generations.value();
  if (keep == 0) {
    SPARSYNC_RETURN_IF_ERROR(remove_undo_journal(journal));
    return drop_undo_generations(journal, all);
  }
  // The time of the run's completion, for --status and --rollback --to TIME.
  UniqueFd fd(::openat(journal.dir.get(), journal.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return errno_status(ErrorKind::kTarget, "cannot keep undo journal " + journal.shown(), errno);
  if (::futimens(fd.get(), nullptr) != 0) {
    return errno_status(ErrorKind::kTarget, "cannot keep undo journal " + journal.shown(), errno);
  }
  const uint64_t next = all.empty() ? 1 : all.front().seq + 1;
  const std::string name = generation_name(journal.name, next);
  if (::renameat(journal.dir.get(), journal.name.c_str(), journal.dir.get(), name.c_str()) != 0) {
    return errno_status(ErrorKind::kTarget, "cannot keep undo journal " + journal.shown() + " as " + name, errno);
  }
  SPARSYNC_RETURN_IF_ERROR(flush_generations(journal));
  // `all` is newest first and lacks the one just kept: it keeps keep - 1.
  if (kept != nullptr) *kept = static_cast<uint32_t>(std::min<size_t>(keep, all.size() + 1));
  return drop_undo_generations(journal, all, keep - 1);
}

Status mark_undoing(const RecordPlace& journal, const UndoGeneration& generation) {
  if (generation.undoing) return Status::ok();
  const std::string name = undoing_name(journal.name, generation.seq);
  if (::renameat(journal.dir.get(), generation.name.c_str(), journal.dir.get(), name.c_str()) != 0) {
    return errno_status(ErrorKind::kTarget,
                        "cannot mark " + journal.dir_shown + "/" + generation.name + " for rollback", errno);
  }
  return Status::ok();
}

}  // namespace sparsync
