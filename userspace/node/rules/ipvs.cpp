#include "node/rules/ipvs.h"

#include <netinet/in.h>

#include <charconv>
#include <optional>
#include <sstream>
#include <string>

namespace svctrace {

namespace {

// "172.24.0.1:443" or "[fd00::1]:443", as ipvsadm --exact writes them.
std::optional<std::pair<IpAddr, uint16_t>> parse_endpoint(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view addr = text.substr(0, colon), port_text = text.substr(colon + 1);
  if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
  uint16_t port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  auto ip = IpAddr::parse(addr);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || !ip) return std::nullopt;
  return std::pair{*ip, port};
}

uint8_t protocol(std::string_view word) {
  if (word == "TCP") return IPPROTO_TCP;
  if (word == "UDP") return IPPROTO_UDP;
  return 0;  // SCTP, FWM: not a service svctrace traces
}

bool in_cidrs(const IpAddr& ip, const std::vector<Cidr>& cidrs) {
  for (const Cidr& c : cidrs)
    if (c.contains(ip)) return true;
  return false;
}

// The pairs of one virtual server, once its real servers are all read.
class VirtualServer {
 public:
  VirtualServer(uint8_t proto, IpAddr ip, uint16_t port) {
    base_.proto = proto;
    base_.service_ip = ip;
    base_.service_port = port;
    base_.chain = kIpvsChain;
    base_.found_in = {{kIpvsRules, kIpvsChain}};
    base_.by_ipvs = true;
  }

  // "  -> 10.0.0.8:6443  Masq  1  0  0"
  void add_real_server(const std::pair<IpAddr, uint16_t>& endpoint, std::string_view forward) {
    real_servers_++;
    if (forward != "Masq" || endpoint.first.family != base_.service_ip.family) return;
    ServicePair p = base_;
    p.backend_ip = endpoint.first;
    p.backend_port = endpoint.second;
    pairs_.push_back(std::move(p));
  }

  void append_to(std::vector<ServicePair>& out) const {
    if (real_servers_ == 0) out.push_back(base_);  // no endpoints: a pair with no backend
    out.insert(out.end(), pairs_.begin(), pairs_.end());
  }

 private:
  ServicePair base_;
  int real_servers_ = 0;
  std::vector<ServicePair> pairs_;
};

}  // namespace

std::vector<ServicePair> service_pairs_from_ipvsadm(std::string_view text, const std::vector<Cidr>& cidrs) {
  std::vector<ServicePair> out;
  std::optional<VirtualServer> current;
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string first, second, third;
    words >> first >> second >> third;
    if (first == "->") {  // a real server of the current virtual server (or the column header)
      auto endpoint = parse_endpoint(second);
      if (current && endpoint) current->add_real_server(*endpoint, third);
      continue;
    }
    if (line.empty() || line.front() == ' ') continue;
    // A new virtual server, or a header line: either ends the current one.
    if (current) current->append_to(out);
    current.reset();
    auto endpoint = parse_endpoint(second);
    uint8_t proto = protocol(first);
    if (proto && endpoint && in_cidrs(endpoint->first, cidrs)) current.emplace(proto, endpoint->first, endpoint->second);
  }
  if (current) current->append_to(out);
  return out;
}

}  // namespace svctrace
