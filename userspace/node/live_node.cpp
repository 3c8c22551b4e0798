#include "node/live_node.h"

#include "node/rules/nat_rules.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>

namespace svctrace {

using nlohmann::json;

std::vector<ServicePair> LiveNode::service_pairs(const std::vector<Cidr>& cidrs) {
  auto now = std::chrono::steady_clock::now();
  if (cidrs != pairs_cidrs_ || now - pairs_taken_ > std::chrono::seconds(5)) {
    pairs_ = svctrace::service_pairs(read_nat_rules(), cidrs);
    pairs_cidrs_ = cidrs;
    pairs_taken_ = now;
  }
  return pairs_;
}

Container LiveNode::container_of(uint32_t pid, const std::string& comm) {
  Container c = container_of_pid(pid, comm);
  if (!c.pod_uid.empty()) c.pod = pods_.of_uid(c.pod_uid);
  return c;
}

NetworkManagement LiveNode::network_management(int ifindex, const std::string& dev) {
  return detect_network_management("/", ifindex, dev);
}

json LiveNode::config_snapshot(const std::vector<Cidr>& cidrs) {
  json routes = json::array(), rules = json::object(), addresses = json::array(), rp_filter = json::object();
  for (const auto& r : routing_.all_routes()) routes.push_back(format_route(r));
  for (uint8_t family : {AF_INET, AF_INET6}) {
    json& list = rules[family == AF_INET ? "ipv4" : "ipv6"] = json::array();
    for (const auto& r : routing_.rules(family)) list.push_back(format_rule(r));
  }
  json vrfs = json::array();
  for (const auto& v : routing_.vrfs()) {  // "vrf-blue table 10: enslf0 enslf1"
    std::string line = fmt::format("{} table {}:", v.name, table_name(v.table));
    for (int m : v.members) line += " " + routing_.interface_name(m);
    vrfs.push_back(line);
  }
  for (const auto& a : routing_.all_addresses())
    addresses.push_back(fmt::format("{}/{} dev {}", a.addr.str(), a.prefix_len, routing_.interface_name(a.ifindex)));
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator("/proc/sys/net/ipv4/conf", ec)) {
    std::ifstream in(dir.path() / "rp_filter");
    int v;
    if (in >> v) rp_filter[dir.path().filename().string()] = v;
  }
  json config = {{"routes", routes},       {"rules", rules},        {"vrfs", vrfs},
                 {"addresses", addresses}, {"rp_filter", rp_filter}};
  config.update(nat_rules_config(read_nat_rules(), cidrs));
  return config;
}

}  // namespace svctrace
