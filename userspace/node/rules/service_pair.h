// Service IP -> endpoint pairs read from the NAT rules of a namespace, from the machine-readable output
// of the tools that manage them: `iptables-save` (kube-proxy's iptables mode: KUBE-SERVICES ->
// KUBE-SVC-* -> KUBE-SEP-* chains) and `nft -j list ruleset` (kube-proxy's nftables mode: the
// service-ips verdict map -> service-* -> endpoint-* chains), or any plain DNAT rule on a service IP
// in either. Used by `svctrace check` to test every pair's routing before any traffic.
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "correlate/address.h"
#include "node/rules/source_nat.h"

namespace svctrace {

// Where a pair was found: the rules it was read from ("iptables-save" or "nft") and the chain holding
// the DNAT.
struct RuleOrigin {
  std::string rules;
  std::string chain;
  bool operator==(const RuleOrigin&) const = default;
};

struct ServicePair {
  uint8_t proto = 0;        // IPPROTO_TCP / IPPROTO_UDP; 0 when the rule names none
  IpAddr service_ip;
  uint16_t service_port = 0;  // 0 when the rule names no --dport
  IpAddr backend_ip;
  uint16_t backend_port = 0;  // 0: same as the service port
  std::string chain;        // where the DNAT was found, e.g. "KUBE-SEP-ABC" or "OUTPUT"
  std::vector<RuleOrigin> found_in;  // every place it was found (one per source once merged)
  // What the node's NAT rules do to the source of its connections from this node (source_nat.h);
  // empty when nothing was followed (the pair alone, or a walk past svctrace's bounds): none known.
  std::vector<SourceNatCase> source_nat = {};
  // The Kubernetes Service port, "namespace/name:port", as kube-proxy names it in its rules
  // (kube_service_name.h); "" when the rules do not say.
  std::string service = {};
  // Translated by IPVS (kube-proxy's IPVS mode, node/rules/ipvs.h), after the output hook's NAT rules,
  // rather than by a DNAT rule. An IPVS pair with no backend_ip is a virtual server with no real server.
  bool by_ipvs = false;
};

// What makes two pairs the same: protocol, service IP and port, backend IP and the port the backend
// is really reached on (a DNAT without a port keeps the service's).
using PairKey = std::tuple<uint8_t, IpAddr, uint16_t, IpAddr, uint16_t>;
PairKey pair_key(const ServicePair& p);

// The Service name the pairs give a connection to service_ip:service_port (proto), or "": the first
// pair of that service with a name (a pair of any port or protocol, when the rule named none).
std::string service_name(const std::vector<ServicePair>& pairs, uint8_t proto, const IpAddr& service_ip,
                         uint16_t service_port);

// Rules text that is not what the tool prints; what() is one line, for the user.
struct RulesError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses iptables-save output (the *nat table; other tables are ignored) and returns every
// (service IP in `cidrs`, DNAT target) pair, following jumps between chains. Unparseable lines are
// skipped: this reads what kube-proxy and people write, not a grammar it owns.
std::vector<ServicePair> service_pairs_from_iptables_save(std::string_view text, const std::vector<Cidr>& cidrs);

// Throws RulesError unless `text` reads as iptables-save output: every line a comment, a table
// ("*nat"), a chain (":KUBE-SERVICES - [0:0]"), a rule ("-A ...") or COMMIT. For rules files given on
// the command line, which the parser above would otherwise read as "no rules".
void validate_iptables_save(std::string_view text);

// Parses `nft -j list ruleset` output and returns every (service IP in `cidrs`, DNAT target) pair a
// packet can reach from a NAT base chain on the prerouting or output hook, following jump, goto and
// verdict maps (named, like kube-proxy's service-ips, or anonymous, like its numgen vmaps), with the
// daddr / l4proto / dport each match or map key binds on the way. Rules holding xt statements
// (iptables-nft's) are left to service_pairs_from_iptables_save. Throws RulesError when `text` is
// not nft's JSON.
std::vector<ServicePair> service_pairs_from_nft_json(std::string_view text, const std::vector<Cidr>& cidrs);

// The pairs of every source, each once: a pair found by several (same protocol, service IP and port,
// backend IP and port) is kept at its first place, and the others' origins are added to its
// found_in (and its service name, when it had none).
std::vector<ServicePair> merge_service_pairs(const std::vector<std::vector<ServicePair>>& sources);

}  // namespace svctrace
