// Reads one keyword's value for one host from ssh config files, for the few
// settings libssh 0.10 parses but drops: it knows StrictHostKeyChecking only
// as yes or no, so "accept-new" is lost before we could ask for it.
// The rules are ssh_config(5)'s, as far as they go here: the first value
// found wins; "Host" patterns (*, ?, !negation) select the blocks that
// apply; "Match all" and "Match host PATTERNS" are understood, and a Match
// on anything else is taken not to apply (what it would say is unknown, and
// the caller falls back to its strict default); "Include" files (globs,
// relative to ~/.ssh or /etc/ssh) are read in place.
// Thread-safety: stateless.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace sparsync {

// `config_file` empty: ~/.ssh/config ($HOME's), then /etc/ssh/ssh_config,
// as ssh reads them without -F. Keywords match without regard to case; the
// value is returned as written (first word, quotes removed).
std::optional<std::string> ssh_config_value(const std::string& config_file, const std::string& host,
                                            const std::string& keyword);

// Every value, in order, for keywords that add up (IdentityFile).
std::vector<std::string> ssh_config_values(const std::string& config_file, const std::string& host,
                                           const std::string& keyword);

// ssh's glob for Host patterns: '*' any run, '?' one character.
bool ssh_pattern_match(const std::string& pattern, const std::string& text);

}  // namespace sparsync
