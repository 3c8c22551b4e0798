// The node svctrace runs on, as a session asks it: rtnetlink for routing, iptables-save for the NAT
// rules, the filesystem for what manages the network. Lives in the namespace it was made in.
#pragma once
#include <nlohmann/json.hpp>
#include <chrono>
#include <string>

#include "node/container_lookup.h"
#include "node/netlink.h"
#include "node/node.h"
#include "node/pod_names.h"

namespace svctrace {

class LiveNode : public Node {
 public:
  // Throws std::runtime_error when netlink cannot be opened. host_root: where the host's files are
  // (kubelet's, the CNI's, the runtime's), for pod names: "/", or "/host" in a DaemonSet.
  explicit LiveNode(std::string host_root = "/") : pods_(std::move(host_root)) {}
  std::optional<Route> fib_match(const IpAddr& dst, int vrf) override { return routing_.fib_match(dst, vrf); }
  std::optional<Route> route_get(const IpAddr& dst, int vrf) override { return routing_.route_get(dst, vrf); }
  std::vector<InterfaceAddress> addresses(int ifindex) override { return routing_.addresses(ifindex); }
  std::string interface_name(int ifindex) override { return routing_.interface_name(ifindex); }
  std::vector<Route> routes(uint32_t table) override { return routing_.routes(table); }
  std::vector<Rule> rules(uint8_t family) override { return routing_.rules(family); }
  // Read at most every 5 s: each diagnosis with a fix asks, and on a large cluster running
  // iptables-save and nft and parsing their output takes seconds.
  std::vector<ServicePair> service_pairs(const std::vector<Cidr>& cidrs) override;
  std::vector<Vrf> vrfs() override { return routing_.vrfs(); }
  NetworkManagement network_management(int ifindex, const std::string& dev) override;
  Container container_of(uint32_t pid, const std::string& comm) override;
  std::string pod_of_ip(const IpAddr& ip) override { return pods_.of_ip(ip); }

  NetlinkRouting& netlink() { return routing_; }
  // What the diagnoses relied on, for someone who was not there: the namespace's routes (every
  // table), rules, VRFs, addresses, rp_filter settings, as the ip tools would print them, and its NAT
  // rules with the service pairs in cidrs (nat_rules.h).
  nlohmann::json config_snapshot(const std::vector<Cidr>& cidrs);

 private:
  NetlinkRouting routing_;
  PodNames pods_;
  std::vector<Cidr> pairs_cidrs_;
  std::vector<ServicePair> pairs_;
  std::chrono::steady_clock::time_point pairs_taken_{};
};

}  // namespace svctrace
