#include "node/node_cache.h"

namespace svctrace {

void NodeCache::clear() {
  fib_match_.clear();
  route_get_.clear();
  addresses_.clear();
  interface_name_.clear();
  routes_.clear();
  rules_.clear();
  vrfs_.reset();
  service_pairs_.reset();
  network_management_.clear();
  container_of_.clear();
  pod_of_ip_.clear();
}

std::optional<Route> NodeCache::fib_match(const IpAddr& dst, int vrf) {
  return remembered(fib_match_, std::pair(dst, vrf), [&] { return inner_.fib_match(dst, vrf); });
}

std::optional<Route> NodeCache::route_get(const IpAddr& dst, int vrf) {
  return remembered(route_get_, std::pair(dst, vrf), [&] { return inner_.route_get(dst, vrf); });
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

std::vector<Vrf> NodeCache::vrfs() {
  if (!vrfs_) vrfs_ = inner_.vrfs();
  return *vrfs_;
}

std::vector<ServicePair> NodeCache::service_pairs(const std::vector<Cidr>& cidrs) {
  if (!service_pairs_ || service_pairs_->first != cidrs) service_pairs_.emplace(cidrs, inner_.service_pairs(cidrs));
  return service_pairs_->second;
}

NetworkManagement NodeCache::network_management(int ifindex, const std::string& dev) {
  return remembered(network_management_, std::pair(ifindex, dev), [&] { return inner_.network_management(ifindex, dev); });
}

// A pid is reused only after its process is gone; within one tick that is not a concern.
Container NodeCache::container_of(uint32_t pid, const std::string& comm) {
  return remembered(container_of_, std::pair(pid, comm), [&] { return inner_.container_of(pid, comm); });
}

std::string NodeCache::pod_of_ip(const IpAddr& ip) {
  return remembered(pod_of_ip_, ip, [&] { return inner_.pod_of_ip(ip); });
}

}  // namespace svctrace
