#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "diagnose/persistent_fix.h"
#include "node/network_management.h"

using namespace svctrace;
namespace fs = std::filesystem;

namespace {
// A throwaway root directory with the given files.
struct FakeRoot {
  fs::path dir = fs::temp_directory_path() / ("svctrace-persist-" + std::to_string(::getpid()) + "-" +
                                              std::to_string(reinterpret_cast<uintptr_t>(this)));
  FakeRoot() { fs::create_directories(dir); }
  ~FakeRoot() { fs::remove_all(dir); }
  void write(const std::string& path, const std::string& text) {
    fs::create_directories((dir / path).parent_path());
    std::ofstream(dir / path) << text;
  }
};

Route fix_route() {
  Route r;
  r.dst = *IpAddr::parse("172.24.0.0");
  r.dst_len = 13;
  r.dev = "enslf0";
  r.prefsrc = *IpAddr::parse("10.0.0.12");
  return r;
}
}  // namespace

TEST_CASE("systemd-networkd: a drop-in for the device's .network file", "[persist]") {
  FakeRoot root;
  root.write("run/systemd/netif/links/2", "ADMIN_STATE=configured\nNETWORK_FILE=/etc/systemd/network/10-enslf0.network\n");
  auto nm = detect_network_management(root.dir, 2, "enslf0");
  CHECK(nm.tool == "systemd-networkd");
  CHECK(persistent_fix(nm, fix_route()) ==
        "# /etc/systemd/network/10-enslf0.network.d/svctrace-route.conf, then: networkctl reload\n"
        "[Route]\nDestination=172.24.0.0/13\nPreferredSource=10.0.0.12\n");
}

TEST_CASE("NetworkManager: nmcli on the device's connection", "[persist]") {
  FakeRoot root;
  root.write("run/NetworkManager/devices/2", "[device]\n");
  auto nm = detect_network_management(root.dir, 2, "enslf0");
  CHECK(nm.tool == "NetworkManager");
  Route r = fix_route();
  r.table = 200;
  CHECK(persistent_fix(nm, r) ==
        "nmcli connection modify \"$(nmcli -g GENERAL.CONNECTION device show enslf0)\" +ipv4.routes "
        "\"172.24.0.0/13 src=10.0.0.12 table=200\" && nmcli device reapply enslf0");
}

TEST_CASE("ifupdown: an up line in the device's stanza, nothing known: no persistent form", "[persist]") {
  FakeRoot root;
  root.write("etc/network/interfaces.d/enslf0", "auto enslf0\niface enslf0 inet static\n  address 10.0.0.12/24\n");
  auto nm = detect_network_management(root.dir, 2, "enslf0");
  CHECK(nm.tool == "ifupdown");
  CHECK(persistent_fix(nm, fix_route()) ==
        "# /etc/network/interfaces, in the \"iface enslf0\" stanza:\n"
        "    up ip route replace 172.24.0.0/13 dev enslf0 src 10.0.0.12\n");
  CHECK(detect_network_management(root.dir, 3, "enslf1").tool.empty());
  CHECK(persistent_fix(NetworkManagement{}, fix_route()).empty());
}
