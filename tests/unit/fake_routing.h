// A RoutingView of the incident's node, for tests of the diagnosis and of `check`.
#pragma once
#include <linux/rtnetlink.h>

#include <map>
#include <string>

#include "svctrace/route.h"

namespace test {
using namespace svctrace;

inline IpAddr ip(const char* s) { return *IpAddr::parse(s); }

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
  std::optional<Route> fib_match(const IpAddr&) override { return service_route; }
  std::map<std::string, Route> route_get_by_ip;  // route get answers for other addresses
  std::optional<Route> route_get(const IpAddr& dst) override {
    if (auto it = route_get_by_ip.find(dst.str()); it != route_get_by_ip.end()) return it->second;
    return backend_route;
  }
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

}  // namespace test
