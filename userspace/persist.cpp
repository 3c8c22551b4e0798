#include "svctrace/persist.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <regex>

namespace svctrace {

namespace fs = std::filesystem;

// The value of KEY=value in a systemd run-time state file.
static std::string state_value(const fs::path& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  return {};
}

static bool ifupdown_configures(const fs::path& file, const std::string& dev) {
  std::ifstream in(file);
  std::string line;
  const std::regex stanza("^\\s*iface\\s+" + std::regex_replace(dev, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                          "\\s");
  while (std::getline(in, line))
    if (std::regex_search(line, stanza)) return true;
  return false;
}

NetworkManagement detect_network_management(const std::string& root, int ifindex, const std::string& dev) {
  fs::path r(root);
  fs::path networkd = r / "run/systemd/netif/links" / std::to_string(ifindex);
  if (state_value(networkd, "ADMIN_STATE") == "configured")
    return {"systemd-networkd", state_value(networkd, "NETWORK_FILE")};
  if (fs::exists(r / "run/NetworkManager/devices" / std::to_string(ifindex))) return {"NetworkManager", ""};
  if (ifupdown_configures(r / "etc/network/interfaces", dev)) return {"ifupdown", ""};
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(r / "etc/network/interfaces.d", ec))
    if (ifupdown_configures(f.path(), dev)) return {"ifupdown", ""};
  return {};
}

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
        fix.dev, fix.dst.family == AF_INET6 ? 6 : 4, route);
  }
  if (nm.tool == "ifupdown") {
    std::string cmd = fmt::format("ip route replace {}", prefix);
    if (fix.gateway.is_set()) cmd += " via " + fix.gateway.str();
    cmd += " dev " + fix.dev;
    if (fix.prefsrc.is_set()) cmd += " src " + fix.prefsrc.str();
    if (fix.table != kTableMain) cmd += " table " + table_name(fix.table);
    return fmt::format("# /etc/network/interfaces, in the \"iface {}\" stanza:\n    up {}\n", fix.dev, cmd);
  }
  return {};
}

}  // namespace svctrace
