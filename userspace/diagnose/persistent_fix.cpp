#include "diagnose/persistent_fix.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include "diagnose/diagnosis.h"

namespace svctrace {

std::string persistent_fix(const NetworkManagement& nm, const Route& fix) {
  std::string prefix = fmt::format("{}/{}", fix.dst.str(), fix.dst_len);
  if (nm.tool == "systemd-networkd") {
    std::string file = nm.network_file.empty() ? fmt::format("/etc/systemd/network/{}.network", fix.dev)
                                               : nm.network_file;
    std::string s = fmt::format("# {}.d/svctrace-route.conf, then: networkctl reload\n[Route]\nDestination={}\n", file,
                                prefix);
    if (fix.gateway.is_set()) s += "Gateway=" + fix.gateway.str() + "\n";
    if (fix.prefsrc.is_set()) s += "PreferredSource=" + fix.prefsrc.str() + "\n";
    if (fix.table != kTableMain) s += fmt::format("Table={}\n", fix.table);
    return s;
  }
  if (nm.tool == "NetworkManager") {
    std::string route = prefix;
    if (fix.gateway.is_set()) route += " " + fix.gateway.str();
    if (fix.prefsrc.is_set()) route += " src=" + fix.prefsrc.str();
    if (fix.table != kTableMain) route += fmt::format(" table={}", fix.table);
    return fmt::format(
        "nmcli connection modify \"$(nmcli -g GENERAL.CONNECTION device show {0})\" +ipv{1}.routes \"{2}\" && "
        "nmcli device reapply {0}",
        shell_word(fix.dev), fix.dst.family == AF_INET6 ? 6 : 4, route);
  }
  if (nm.tool == "ifupdown") {
    return fmt::format("# /etc/network/interfaces, in the \"iface {}\" stanza:\n    up ip route replace {}\n", fix.dev,
                       ip_route_args(fix));
  }
  return {};
}

}  // namespace svctrace
