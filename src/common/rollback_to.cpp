#include "common/rollback_to.h"

#include <cstdio>
#include <ctime>

namespace sparsync {
namespace {

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;  // 18 digits cannot overflow a u64
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "YYYY-MM-DD", then optionally "THH:MM" or "THH:MM:SS" (or a space for T),
// read as local time; mktime's normalisation would take 2026-02-31 as March,
// so the fields are checked to survive the round trip.
std::optional<uint64_t> parse_local_time(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &consumed) != 3 ||
      consumed != 10) {
    return std::nullopt;
  }
  if (text.size() > 10) {
    if (text[10] != 'T' && text[10] != ' ') return std::nullopt;
    const std::string clock = text.substr(11);
    int used = 0;
    if (clock.size() == 5 && std::sscanf(clock.c_str(), "%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &used) == 2 &&
        used == 5) {
    } else if (clock.size() == 8 &&
               std::sscanf(clock.c_str(), "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) == 3 &&
               used == 8) {
    } else {
      return std::nullopt;
    }
  }
  const std::tm asked = tm;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  const std::time_t t = std::mktime(&tm);
  if (t < 0 || tm.tm_year + 1900 != asked.tm_year || tm.tm_mon + 1 != asked.tm_mon || tm.tm_mday != asked.tm_mday ||
      tm.tm_hour != asked.tm_hour || tm.tm_min != asked.tm_min || tm.tm_sec != asked.tm_sec) {
    return std::nullopt;
  }
  return static_cast<uint64_t>(t);
}

}  // namespace

std::optional<RollbackTo> parse_rollback_to(const std::string& text) {
  if (all_digits(text)) {
    const uint64_t runs = std::stoull(text);
    if (runs == 0) return std::nullopt;
    return RollbackTo{RollbackTo::Kind::kRunsBack, runs};
  }
  if (text.size() > 1 && text[0] == '@' && all_digits(text.substr(1))) {
    return RollbackTo{RollbackTo::Kind::kTime, std::stoull(text.substr(1))};
  }
  auto when = parse_local_time(text);
  if (!when) return std::nullopt;
  return RollbackTo{RollbackTo::Kind::kTime, *when};
}

std::string format_local_time(uint64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (localtime_r(&t, &tm) == nullptr) return "@" + std::to_string(unix_seconds);
  char text[32];
  if (std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm) == 0) return "@" + std::to_string(unix_seconds);
  return text;
}

std::string describe_rollback_to(const RollbackTo& to) {
  switch (to.kind) {
    case RollbackTo::Kind::kInterrupted:
      return "before the interrupted run";
    case RollbackTo::Kind::kRunsBack:
      return to.value == 1 ? "1 run back" : std::to_string(to.value) + " runs back";
    case RollbackTo::Kind::kTime:
      return "as of " + format_local_time(to.value);
  }
  return "?";
}

}  // namespace sparsync
