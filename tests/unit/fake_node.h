// The incident's node as a session asks it (FakeRouting, with one service pair and a container), for
// tests and benchmarks of a whole session.
#pragma once
#include "fake_routing.h"
#include "node/node.h"

namespace test {

struct FakeNode : Node {
  FakeRouting routing;
  std::optional<Route> fib_match(const IpAddr& d, int vrf) override { return routing.fib_match(d, vrf); }
  std::optional<Route> route_get(const IpAddr& d, int vrf) override { return routing.route_get(d, vrf); }
  std::vector<InterfaceAddress> addresses(int i) override { return routing.addresses(i); }
  std::string interface_name(int i) override { return routing.interface_name(i); }
  std::vector<Route> routes(uint32_t t) override { return routing.routes(t); }
  std::vector<Rule> rules(uint8_t f) override { return routing.rules(f); }
  std::vector<ServicePair> service_pairs(const std::vector<Cidr>&) override {
    ServicePair p;
    p.proto = 6;
    p.service_ip = ip("172.24.0.1");
    p.service_port = 443;
    p.backend_ip = ip("10.0.0.8");
    p.backend_port = 6443;
    p.chain = "KUBE-SEP-A";
    p.found_in = {{"iptables-save", "KUBE-SEP-A"}, {"nft", "ip kube-proxy endpoint-a"}};
    return {p};
  }
  std::vector<Vrf> vrfs() override { return routing.vrfs(); }
  NetworkManagement network_management(int, const std::string& dev) override {
    return {"systemd-networkd", "/run/systemd/network/10-" + dev + ".network"};
  }
  Container container_of(uint32_t, const std::string&) override { return {std::string(64, 'a'), ""}; }
};

}  // namespace test
