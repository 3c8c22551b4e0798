// svctrace: the command line. Parses the options, then runs the subcommand they ask for; whatever
// ends it early is a Failure, said here in one line.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>

#include "capture/tracer.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "node/netns.h"
#include "report/metrics.h"

using namespace svctrace;
using namespace svctrace::cli;

namespace {

void start_logging(int verbose) {
  auto log = spdlog::stderr_color_mt("svctrace");
  spdlog::set_default_logger(log);
  spdlog::set_pattern("svctrace: %^%l%$: %v");
  spdlog::set_level(verbose >= 2 ? spdlog::level::trace : verbose ? spdlog::level::debug : spdlog::level::info);
  route_libbpf_log_to_spdlog();
  setvbuf(stdout, nullptr, _IOLBF, 0);
}

// Bound before --netns moves svctrace: it listens in the namespace svctrace was started in, where
// the node's scraper is, and before the ready line.
std::unique_ptr<SvctraceMetrics> serve_metrics(const Options& o) {
  if (o.metrics.empty()) return nullptr;
  try {
    return SvctraceMetrics::serve(parse_listen_address(o.metrics), SVCTRACE_VERSION);
  } catch (const MetricsError& e) {
    throw Failure(kExitRuntime, std::string("--metrics: ") + e.what());
  }
}

// Enters --netns, if given; returns the inode of the namespace traced.
uint32_t enter_traced_netns(const Options& o) {
  try {
    return o.netns.empty() ? current_netns_inode() : enter_netns(o.netns);
  } catch (const NetnsError& e) {
    throw Failure(e.usage ? kExitUsage : kExitRuntime, std::string("--netns: ") + e.what());
  }
}

int run(const Options& o) {
  std::unique_ptr<Output> out = make_output(o);
  if (o.command == Command::Replay) return run_replay(o, *out);
  std::unique_ptr<SvctraceMetrics> metrics = serve_metrics(o);
  const uint32_t netns_inode = enter_traced_netns(o);
  switch (o.command) {
    case Command::Check: return run_check(o, *out);
    case Command::Hooks: return run_hooks(o, netns_inode);
    default: return run_trace(o, netns_inode, metrics.get(), *out);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A stdout whose reader left (`svctrace ... | tee log`, tee gone) must not kill svctrace before it
  // writes the report: its writes fail with EPIPE instead, and Output stops printing.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    std::optional<Options> o = parse_options(argc, argv);
    if (!o) return kExitOk;  // --help or --version
    start_logging(o->verbose);
    return run(*o);
  } catch (const Failure& f) {
    fmt::print(stderr, "svctrace: {}\n", f.what());
    return f.exit_code;
  } catch (const std::exception& e) {  // e.g. fmt's, printing to a stdout that failed
    fmt::print(stderr, "svctrace: error: {}\n", e.what());
    return kExitRuntime;
  }
}
