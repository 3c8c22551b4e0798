// The subcommands of svctrace, each in its own file; each returns the exit status, or throws Failure.
#pragma once
#include <nlohmann/json.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "capture/tracer.h"
#include "cli/options.h"
#include "report/metrics.h"
#include "report/output.h"

namespace svctrace::cli {

// Traces until a signal or --duration: the live session (trace.cpp).
int run_trace(const Options& o, uint32_t netns_inode, SvctraceMetrics* metrics, Output& out);
// --hooks: loads and attaches, prints which hook serves each role (hooks.cpp).
int run_hooks(const Options& o, uint32_t netns_inode);
// `svctrace check`: would each service IP -> endpoint pair of the NAT rules work (check.cpp)?
int run_check(const Options& o, Output& out);
// `svctrace replay FILE`: a recorded session, run again offline (replay.cpp).
int run_replay(const Options& o, Output& out);

// The tracer's options as the command line gives them.
TracerOptions tracer_options(const Options& o, uint32_t netns_inode);

// Writes a file at exit (write_file_atomically): false, the error logged, when it could not be. what:
// what it holds, for the log ("report", "packets").
bool write_at_exit(const std::string& path, const std::function<std::string()>& content, const char* what);

// Writes each report (JSON, or the HTML page for a .html path): what the session found, with what it
// was traced with. False, the error logged, when one could not be written (reports.cpp).
bool write_reports(const std::vector<std::string>& paths, const nlohmann::json& header, const nlohmann::json& found,
                   const nlohmann::json& config);

// Why stdout could not be written, from errno: "stdout's reader left (the pipe is closed)" for EPIPE.
std::string stdout_lost(int err);
// Says once on stderr that some of the output was not printed, when a write to stdout failed.
void warn_if_stdout_lost(const Output& out);

}  // namespace svctrace::cli
