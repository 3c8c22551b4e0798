// --hooks: can this kernel, with these privileges, trace? Loads and attaches, prints which hook
// serves each role and why others were refused, and detaches.
#include <fmt/format.h>

#include "cli/commands.h"

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
  return kExitOk;
}

}  // namespace svctrace::cli
