// A Node that remembers its answers until cleared: a session clears it at every tick, so the flows
// decided in one tick (thousands of them in a flood) share one netlink round trip per question
// instead of making one each. The answers are at most one tick (a poll, <= 100 ms) old, which is no
// older than the flow's own events.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "node/node.h"

namespace svctrace {

class NodeCache : public Node {
 public:
  explicit NodeCache(Node& inner) : inner_(inner) {}
  void clear();

  std::optional<Route> fib_match(const IpAddr& dst, int vrf) override;
  std::optional<Route> route_get(const IpAddr& dst, int vrf) override;
  std::vector<InterfaceAddress> addresses(int ifindex) override;
  std::string interface_name(int ifindex) override;
  std::vector<Route> routes(uint32_t table) override;
  std::vector<Rule> rules(uint8_t family) override;
  std::vector<Vrf> vrfs() override;
  std::vector<ServicePair> service_pairs(const std::vector<Cidr>& cidrs) override;
  NetworkManagement network_management(int ifindex, const std::string& dev) override;
  Container container_of(uint32_t pid, const std::string& comm) override;
  std::string pod_of_ip(const IpAddr& ip) override;

 private:
  // The answer remembered under key, asking `ask` the first time.
  template <typename Map, typename Key, typename Ask>
  static const typename Map::mapped_type& remembered(Map& map, const Key& key, Ask ask) {
    auto it = map.find(key);
    if (it == map.end()) it = map.emplace(key, ask()).first;
    return it->second;
  }

  Node& inner_;
  std::map<std::pair<IpAddr, int>, std::optional<Route>> fib_match_, route_get_;
  std::map<int, std::vector<InterfaceAddress>> addresses_;
  std::map<int, std::string> interface_name_;
  std::map<uint32_t, std::vector<Route>> routes_;
  std::map<uint8_t, std::vector<Rule>> rules_;
  std::optional<std::vector<Vrf>> vrfs_;
  // The CIDRs asked for, and the answer: a session always asks with the same ones. LiveNode keeps
  // them 5 s too (they cost an iptables-save and an nft run); this spares a node beneath it that does
  // not (a recording, a replay) one question per flow.
  std::optional<std::pair<std::vector<Cidr>, std::vector<ServicePair>>> service_pairs_;
  std::map<std::pair<int, std::string>, NetworkManagement> network_management_;
  std::map<std::pair<uint32_t, std::string>, Container> container_of_;
  std::map<IpAddr, std::string> pod_of_ip_;
};

}  // namespace svctrace
