// A RoutingView of the incident's node, for tests of the diagnosis and of `check`.
#pragma once
#include <linux/rtnetlink.h>

#include <map>
#include <string>

#include "node/route.h"

namespace test {
using namespace svctrace;

inline IpAddr ip(const char* s) { return *IpAddr::parse(s); }

// `dst dev DEV [table T] src SRC`: what `ip route get dst` answers for an address on DEV's network.
inline Route host_route(const char* dst, int oif, const char* dev, const char* src, uint32_t table = kTableMain) {
  Route r;
  r.dst = ip(dst);
  r.dst_len = 32;
  r.oif = oif;
  r.dev = dev;
  r.table = table;
  r.prefsrc = ip(src);
  return r;
}

// The rules of a namespace with a VRF device: local, the kernel's l3mdev rule (1000), main, default.
inline std::vector<Rule> vrf_rules() {
  Rule local, l3mdev, main_rule, default_rule;
  local.table = kTableLocal;
  l3mdev.priority = 1000;
  l3mdev.l3mdev = true;
  l3mdev.table = 0;
  main_rule.priority = 32766;
  default_rule.priority = 32767;
  default_rule.table = kTableDefault;
  return {local, l3mdev, main_rule, default_rule};
}

// The node of the incident: enslf0 10.0.0.12/24 (cluster network), enslf1 10.141.13.182/24,
// default route via enslf1.
struct FakeRouting : RoutingView {
  std::map<int, std::string> names{{2, "enslf0"}, {3, "enslf1"}};
  std::map<int, std::vector<InterfaceAddress>> addrs{{2, {{ip("10.0.0.12"), 24}}}, {3, {{ip("10.141.13.182"), 24}}}};
  std::optional<Route> service_route;   // fibmatch answer for the service IP
  std::optional<Route> backend_route;   // route get answer for the backend
  std::vector<Route> table_routes;

  FakeRouting() {
    Route def;
    def.gateway = ip("10.141.13.1");
    def.oif = 3;
    def.dev = "enslf1";
    service_route = def;
    Route get;
    get.dst = ip("10.0.0.8");
    get.dst_len = 32;
    get.oif = 2;
    get.dev = "enslf0";
    get.prefsrc = ip("10.0.0.12");
    backend_route = get;
    table_routes = {def};
    // `ip route get 172.24.0.1`: the default route, and the source it selects.
    Route service_get = def;
    service_get.dst = ip("172.24.0.1");
    service_get.dst_len = 32;
    service_get.prefsrc = ip("10.141.13.182");
    route_get_by_ip["172.24.0.1"] = service_get;
  }
  std::map<std::string, Route> route_get_by_ip;  // route get answers for other addresses
  // Lookups in a VRF (by its device's ifindex), as a socket bound to it makes them; none unless given.
  std::map<int, Route> vrf_service_route;                     // fibmatch for the service IP
  std::map<int, std::map<std::string, Route>> vrf_route_get;  // route get, by destination
  std::vector<Vrf> vrf_list;

  std::optional<Route> fib_match(const IpAddr&, int vrf) override {
    if (!vrf) return service_route;
    if (auto it = vrf_service_route.find(vrf); it != vrf_service_route.end()) return it->second;
    return std::nullopt;
  }
  std::optional<Route> route_get(const IpAddr& dst, int vrf) override {
    if (vrf) {
      auto& in = vrf_route_get[vrf];
      if (auto it = in.find(dst.str()); it != in.end()) return it->second;
      return std::nullopt;
    }
    if (auto it = route_get_by_ip.find(dst.str()); it != route_get_by_ip.end()) return it->second;
    return backend_route;
  }
  std::vector<Vrf> vrfs() override { return vrf_list; }
  std::vector<InterfaceAddress> addresses(int ifindex) override { return addrs[ifindex]; }
  std::string interface_name(int ifindex) override { return names[ifindex]; }
  std::vector<Rule> rule_list;
  std::vector<Rule> rules(uint8_t) override { return rule_list; }
  std::vector<Route> routes(uint32_t table) override {
    std::vector<Route> out;
    for (const auto& r : table_routes)
      if (r.table == table) out.push_back(r);
    return out;
  }
};

// The incident's node with both NICs enslaved to VRF vrf-blue (ifindex 7, table 10): their routes,
// the morning's default route included, live in table 10, and a socket outside the VRF has no route to
// anything. The kernel's l3mdev rule (1000) sends the lookups of sockets bound to vrf-blue to table 10.
inline void put_in_vrf(FakeRouting& r) {
  constexpr int kVrf = 7;
  r.names[kVrf] = "vrf-blue";
  r.vrf_list = {{kVrf, "vrf-blue", 10, {2, 3}}};
  Route def = *r.service_route;
  def.table = 10;
  r.service_route.reset();
  r.backend_route.reset();
  r.route_get_by_ip.clear();
  r.table_routes = {def};
  r.vrf_service_route[kVrf] = def;
  r.vrf_route_get[kVrf]["10.0.0.8"] = host_route("10.0.0.8", 2, "enslf0", "10.0.0.12", 10);
  Route service = def;
  service.dst = ip("172.24.0.1");
  service.dst_len = 32;
  service.prefsrc = ip("10.141.13.182");
  r.vrf_route_get[kVrf]["172.24.0.1"] = service;
  r.rule_list = vrf_rules();
}

}  // namespace test
