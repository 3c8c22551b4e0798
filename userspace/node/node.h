// The node as a session sees it: its routing (RoutingView), its NAT rules' service pairs, what
// manages its network and which container a process runs in. Live (live_node.h), remembered for a
// tick (node_cache.h), recorded or replayed (session/recording.h), or faked in tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "correlate/address.h"
#include "correlate/container.h"
#include "node/network_management.h"
#include "node/route.h"
#include "node/rules/service_pair.h"

namespace svctrace {

// What a session asks the node besides its events.
class Node : public RoutingView {
 public:
  // The service IP -> endpoint pairs of the namespace's NAT rules (iptables-save and nft), in cidrs.
  virtual std::vector<ServicePair> service_pairs(const std::vector<Cidr>& cidrs) = 0;
  // What manages device `dev` (host namespace), for the persistent form of a fix.
  virtual NetworkManagement network_management(int ifindex, const std::string& dev) = 0;
  // The container process `pid` (named `comm`) runs in, if any.
  virtual Container container_of(uint32_t pid, const std::string& comm) = 0;
  // "namespace/name" of the pod holding address `ip` on this node (node/pod_names.h), or "".
  virtual std::string pod_of_ip(const IpAddr& ip) { (void)ip; return ""; }
};

}  // namespace svctrace
