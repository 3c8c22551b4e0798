// The report files written at the end of a trace or a replay, and what is said when stdout was lost.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "cli/commands.h"
#include "report/html_report.h"

namespace svctrace::cli {

using nlohmann::json;

bool write_at_exit(const std::string& path, const std::function<std::string()>& content, const char* what) {
  try {
    write_file_atomically(path, content());
    spdlog::info("{} written to {}", what, path);
    return true;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return false;
  }
}

bool write_reports(const std::vector<std::string>& paths, const json& header, const json& found, const json& config) {
  json report = header;
  for (const char* key : {"services", "flows", "diagnoses", "timeline", "stats"}) report[key] = found[key];
  report["config"] = config;
  for (const auto& path : paths)
    if (!write_at_exit(path, [&] { return render_report(path, report); }, "report")) return false;
  return true;
}

std::string stdout_lost(int err) {
  if (err == EPIPE) return "stdout's reader left (the pipe is closed)";
  return fmt::format("stdout cannot be written ({})", std::strerror(err));
}

void warn_if_stdout_lost(const Output& out) {
  if (out.write_error()) spdlog::warn("{}: the rest of the output was not printed", stdout_lost(out.write_error()));
}

}  // namespace svctrace::cli
