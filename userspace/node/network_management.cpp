#include "node/network_management.h"

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

}  // namespace svctrace
