// Making a fix survive a reboot, with the tool that manages the node's network, instead of a crontab
// entry that re-adds the route (the seed incident's workaround).
#pragma once
#include <string>

#include "node/network_management.h"
#include "node/route.h"

namespace svctrace {

// The persistent form of `fix` for that tool, or "" when the tool is unknown.
std::string persistent_fix(const NetworkManagement& nm, const Route& fix);

}  // namespace svctrace
