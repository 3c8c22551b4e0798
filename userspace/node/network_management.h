// What manages the node's network (systemd-networkd, NetworkManager, ifupdown), so that a fix can be
// given in the form that survives a reboot (diagnose/persistent_fix.h).
#pragma once
#include <string>

namespace svctrace {

struct NetworkManagement {
  std::string tool;          // "systemd-networkd", "NetworkManager", "ifupdown", or "" (unknown)
  std::string network_file;  // systemd-networkd: the .network file that configures the device
};

// Finds what manages device `dev` (ifindex in the host's network namespace) under `root` ("/" on a
// node; a directory in tests): systemd-networkd's and NetworkManager's run-time state, then ifupdown's
// /etc/network/interfaces.
NetworkManagement detect_network_management(const std::string& root, int ifindex, const std::string& dev);

}  // namespace svctrace
