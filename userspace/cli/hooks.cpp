// --hooks: can this kernel, with these privileges, trace? Loads and attaches, prints which hook
// serves each role and why others were refused, and detaches.
#include <fmt/format.h>

#include "capture/socket_lb.h"
#include "cli/commands.h"
#include "report/text.h"

namespace svctrace::cli {

int run_hooks(const Options& o, uint32_t netns_inode) {
  std::unique_ptr<Tracer> tracer;
  try {
    tracer = Tracer::start(tracer_options(o, netns_inode), [](const svc_event&) {});
  } catch (const std::exception& e) {
    throw Failure(kExitRuntime, e.what());
  }
  for (const auto& h : tracer->hooks())
    fmt::print("{:<7} {:<40} {}\n", name(h.role), h.name,
               !h.live ? "refused: " + h.error : h.note.empty() ? std::string("live") : "live (" + h.note + ")");
  // Not a hook of svctrace's: what can hide every flow from them (capture/socket_lb.h).
  SocketLbScan scan = find_connect_programs(cgroup2_mount());
  fmt::print("{:<7} {:<40} {}\n", "connect", "cgroup connect4/connect6 (socket LB)",
             !scan.error.empty()      ? "unknown: " + scan.error
             : scan.programs.empty() ? fmt::format("none attached ({} read)", counted(scan.cgroups_read, "cgroup"))
                                     : "attached: " + connect_programs_text(scan.programs));
  return kExitOk;
}

}  // namespace svctrace::cli
