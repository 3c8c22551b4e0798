// The report files written at the end of a trace or a replay.
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "report/html_report.h"

namespace svctrace::cli {

using nlohmann::json;

bool write_reports(const std::vector<std::string>& paths, const json& header, const json& found, const json& config) {
  json report = header;
  for (const char* key : {"flows", "diagnoses", "timeline", "stats"}) report[key] = found[key];
  report["config"] = config;
  try {
    for (const auto& path : paths) {
      write_file_atomically(path, render_report(path, report));
      spdlog::info("report written to {}", path);
    }
    return true;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return false;
  }
}

}  // namespace svctrace::cli
