// A closed set of names (capture/hooks.h) as a command-line option's value: --help lists the names
// as {a,b,c} (packaging/svctrace.bash completes them from there), a value is matched ignoring case and
// converted to the enum once, here, and any other value is one line: `--opt: x not in {a,b,c}`.
#pragma once
#include <CLI/CLI.hpp>

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace svctrace {

// For an option bound to an E: add it with ->transform(enum_choice(kAllOfE)).
template <class E, std::size_t N>
CLI::Validator enum_choice(const std::array<E, N>& all) {
  std::vector<std::string> names;
  std::vector<std::pair<std::string, E>> values;
  for (E v : all) {
    names.emplace_back(name(v));
    values.emplace_back(name(v), v);
  }
  // IsMember checks (and says what is allowed); Transformer, which never fails, then turns the name
  // IsMember spelled canonically into the number CLI11 stores in the enum.
  return CLI::IsMember(names, CLI::ignore_case) & CLI::Transformer(values).description("");
}

}  // namespace svctrace
