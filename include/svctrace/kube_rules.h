// Service IP -> endpoint pairs read from the NAT rules of a namespace, as `iptables-save` prints them:
// kube-proxy's KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-* chains, or any plain DNAT rule on a service
// IP. Used by `svctrace check` to test every pair's routing before any traffic.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "svctrace/ip.h"

namespace svctrace {

struct ServicePair {
  uint8_t proto = 0;        // IPPROTO_TCP / IPPROTO_UDP; 0 when the rule names none
  IpAddr service_ip;
  uint16_t service_port = 0;  // 0 when the rule names no --dport
  IpAddr backend_ip;
  uint16_t backend_port = 0;  // 0: same as the service port
  std::string chain;        // where the DNAT was found, e.g. "KUBE-SEP-ABC" or "OUTPUT"
};

// Parses iptables-save output (the *nat table; other tables are ignored) and returns every
// (service IP in `cidrs`, DNAT target) pair, following jumps between chains. Unparseable lines are
// skipped: this reads what kube-proxy and people write, not a grammar it owns.
std::vector<ServicePair> service_pairs_from_iptables_save(std::string_view text, const std::vector<Cidr>& cidrs);

}  // namespace svctrace
