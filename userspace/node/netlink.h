// RoutingView over rtnetlink (libmnl), in the network namespace the process is in when it is made.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>
#include <unordered_map>

#include "node/route.h"

struct mnl_socket;
struct nlmsghdr;

namespace svctrace {

class NetlinkRouting : public RoutingView {
 public:
  NetlinkRouting();  // throws std::runtime_error when the socket cannot be opened
  ~NetlinkRouting() override;
  NetlinkRouting(const NetlinkRouting&) = delete;
  NetlinkRouting& operator=(const NetlinkRouting&) = delete;

  std::optional<Route> fib_match(const IpAddr& dst, int vrf) override;
  std::optional<Route> route_get(const IpAddr& dst, int vrf) override;
  std::vector<InterfaceAddress> addresses(int ifindex) override;
  std::string interface_name(int ifindex) override;
  std::vector<Route> routes(uint32_t table) override;
  std::vector<Rule> rules(uint8_t family) override;
  std::vector<Vrf> vrfs() override;
  // The raw messages a dump of `type` (RTM_GETLINK, RTM_GETADDR, RTM_GETRULE, RTM_GETROUTE, whose
  // request header is header_size bytes) answers, for copying them into another namespace
  // (routing_mirror.h).
  std::vector<std::string> dump_messages(uint16_t type, size_t header_size);
  // Sends one change (RTM_NEWLINK, RTM_NEWROUTE, ...) and waits for the kernel's answer: 0 or -errno.
  int change(nlmsghdr* nlh);
  // Everything, for the report's config snapshot.
  std::vector<Route> all_routes();
  std::vector<InterfaceAddress> all_addresses();

 private:
  std::optional<Route> get_route(const IpAddr& dst, int vrf, bool fib_match);
  mnl_socket* sock_ = nullptr;
  std::unordered_map<int, std::string> names_;
  // Every name seen, kept when the device is deleted: a flow that left by it is named by it still.
  std::unordered_map<int, std::string> names_ever_;
  std::chrono::steady_clock::time_point names_taken_{};
  unsigned portid_ = 0;
  unsigned seq_ = 0;
};

// Watches rtnetlink for route, rule and address changes in the namespace it was made in.
class NetlinkMonitor {
 public:
  NetlinkMonitor();  // throws std::runtime_error
  ~NetlinkMonitor();
  NetlinkMonitor(const NetlinkMonitor&) = delete;
  NetlinkMonitor& operator=(const NetlinkMonitor&) = delete;
  // Everything that changed since the last call; never blocks.
  std::vector<RoutingChange> changes(RoutingView& names);

 private:
  mnl_socket* sock_ = nullptr;
};

}  // namespace svctrace
