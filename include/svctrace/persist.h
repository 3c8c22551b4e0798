// Making a fix survive a reboot, with the tool that manages the node's network, instead of a crontab
// entry that re-adds the route (the seed incident's workaround).
#pragma once
#include <string>

#include "svctrace/route.h"

namespace svctrace {

struct NetworkManagement {
  std::string tool;          // "systemd-networkd", "NetworkManager", "ifupdown", or "" (unknown)
  std::string network_file;  // systemd-networkd: the .network file that configures the device
};

// Finds what manages device `dev` (ifindex in the host's network namespace) under `root` ("/" on a
// node; a directory in tests): systemd-networkd's and NetworkManager's run-time state, then ifupdown's
// /etc/network/interfaces.
NetworkManagement detect_network_management(const std::string& root, int ifindex, const std::string& dev);

// The persistent form of `fix` for that tool, or "" when the tool is unknown.
std::string persistent_fix(const NetworkManagement& nm, const Route& fix);

}  // namespace svctrace
