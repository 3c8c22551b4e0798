#include "svctrace/node_cache.h"

namespace svctrace {

void NodeCache::clear() {
  fib_match_.clear();
  route_get_.clear();
  addresses_.clear();
  interface_name_.clear();
  routes_.clear();
  rules_.clear();
  nat_rules_.reset();
  network_management_.clear();
  container_of_.clear();
}

std::optional<Route> NodeCache::fib_match(const IpAddr& dst) {
  return remembered(fib_match_, dst, [&] { return inner_.fib_match(dst); });
}

std::optional<Route> NodeCache::route_get(const IpAddr& dst) {
  return remembered(route_get_, dst, [&] { return inner_.route_get(dst); });
}

std::vector<InterfaceAddress> NodeCache::addresses(int ifindex) {
  return remembered(addresses_, ifindex, [&] { return inner_.addresses(ifindex); });
}

std::string NodeCache::interface_name(int ifindex) {
  return remembered(interface_name_, ifindex, [&] { return inner_.interface_name(ifindex); });
}

std::vector<Route> NodeCache::routes(uint32_t table) {
  return remembered(routes_, table, [&] { return inner_.routes(table); });
}

std::vector<Rule> NodeCache::rules(uint8_t family) {
  return remembered(rules_, family, [&] { return inner_.rules(family); });
}

std::string NodeCache::nat_rules() {
  if (!nat_rules_) nat_rules_ = inner_.nat_rules();
  return *nat_rules_;
}

NetworkManagement NodeCache::network_management(int ifindex, const std::string& dev) {
  return remembered(network_management_, std::pair(ifindex, dev), [&] { return inner_.network_management(ifindex, dev); });
}

// A pid is reused only after its process is gone; within one tick that is not a concern.
Container NodeCache::container_of(uint32_t pid, const std::string& comm) {
  return remembered(container_of_, std::pair(pid, comm), [&] { return inner_.container_of(pid, comm); });
}

}  // namespace svctrace
