// The node svctrace runs on, as a session asks it: rtnetlink for routing, iptables-save for the NAT
// rules, the filesystem for what manages the network. Lives in the namespace it was made in.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "svctrace/netlink.h"
#include "svctrace/session.h"

namespace svctrace {

// The NAT rules of the current namespace as iptables-save and ip6tables-save print them, or the
// contents of rules_file when one is given.
std::string read_nat_rules(const std::string& rules_file = "");

class LiveNode : public Node {
 public:
  LiveNode() = default;  // throws std::runtime_error when netlink cannot be opened
  std::optional<Route> fib_match(const IpAddr& dst, int vrf) override { return routing_.fib_match(dst, vrf); }
  std::optional<Route> route_get(const IpAddr& dst, int vrf) override { return routing_.route_get(dst, vrf); }
  std::vector<InterfaceAddress> addresses(int ifindex) override { return routing_.addresses(ifindex); }
  std::string interface_name(int ifindex) override { return routing_.interface_name(ifindex); }
  std::vector<Route> routes(uint32_t table) override { return routing_.routes(table); }
  std::vector<Rule> rules(uint8_t family) override { return routing_.rules(family); }
  std::vector<Vrf> vrfs() override { return routing_.vrfs(); }
  std::string nat_rules() override { return read_nat_rules(); }
  NetworkManagement network_management(int ifindex, const std::string& dev) override;
  Container container_of(uint32_t pid, const std::string& comm) override { return container_of_pid(pid, comm); }

  NetlinkRouting& netlink() { return routing_; }
  // What the diagnoses relied on, for someone who was not there: the namespace's routes (every
  // table), rules, VRFs, addresses, rp_filter settings and NAT rules, as the ip tools would print them.
  nlohmann::json config_snapshot();

 private:
  NetlinkRouting routing_;
};

}  // namespace svctrace
