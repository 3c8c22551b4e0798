// Values of the command line checked in the user's words. CLI11's own checks say "Value -1 not in
// range 0.000000 to 1797693134862315708…" (a 309-digit number); these say what is wanted, in the one
// line `svctrace: --flag: what` (exit 2).
#pragma once
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace svctrace::cli {

// More than 31 years: beyond it the deadline in nanoseconds would not fit 64 bits anyway.
constexpr double kMaxSeconds = 1e9;

// Why `value` is not a number of seconds above 0 (as --duration and --stats-interval take), or "".
inline std::string positive_seconds_error(const std::string& value) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  const bool number = !value.empty() && end == value.c_str() + value.size() && std::isfinite(v);
  if (!number || v <= 0) return fmt::format("must be a positive number of seconds, not \"{}\"", value);
  if (v > kMaxSeconds) return fmt::format("must be a positive number of seconds, at most {:.0f}", kMaxSeconds);
  return "";
}

// For a SEC option: ->check(positive_seconds()). Its --help shows no ":POSITIVE" after SEC.
inline CLI::Validator positive_seconds() {
  return CLI::Validator([](std::string& v) { return positive_seconds_error(v); }, "");
}

// Why a file could not be written at `path` at exit (a report, the recording, the ready file), or ""
// when it can: said before tracing starts, not after it. Names the part of the path that is wrong:
// "/etc/hosts is not a directory" for /etc/hosts/x.json.
inline std::string output_path_error(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return fmt::format("{} is a directory, not a file", path);
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (fs::is_directory(dir, ec))
    return access(dir.c_str(), W_OK) == 0 ? "" : fmt::format("directory {} is not writable", dir.string());
  for (fs::path up = dir; !up.empty() && up != up.root_path(); up = up.parent_path()) {
    if (!fs::exists(up, ec)) continue;
    if (!fs::is_directory(up, ec)) return fmt::format("{} is not a directory", up.string());
    break;
  }
  return fmt::format("directory {} does not exist", dir.string());
}

}  // namespace svctrace::cli
