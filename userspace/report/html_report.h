// The report as one self-contained HTML page: what failed and why, the command that fixes it, a
// timeline of each backend's packets, retransmits and replies against the routing changes, every
// flow, and the configuration the diagnoses relied on. Made from the same JSON object as the JSON
// report, so the two never disagree. Nothing in it is fetched: no scripts, fonts, styles or images
// from anywhere, only inline CSS and SVG; every string from the report is escaped.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace svctrace {

// The page for a report object (as cli/reports.cpp builds it: flows, diagnoses, timeline, config, ...).
// Missing or mistyped fields are shown as absent, never thrown on.
std::string report_html(const nlohmann::json& report);

// True when `path` asks for the HTML report (it ends in .html or .htm, any case).
bool wants_html_report(const std::string& path);

// The report in the form its path asks for: HTML, or the JSON contract for any other name.
std::string render_report(const std::string& path, const nlohmann::json& report);

}  // namespace svctrace
