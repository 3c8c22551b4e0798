// kube-proxy's IPVS mode: its Services are IPVS virtual servers (the service IP and port, bound to the
// kube-ipvs0 dummy so that the node owns them) and its endpoints their real servers, to which IPVS
// itself translates the destination, after the NAT rules of the output hook. Read from what
// `ipvsadm -Ln --exact` prints, as `check` reads the other tools' output.
#pragma once
#include <string_view>
#include <vector>

#include "node/rules/service_pair.h"

namespace svctrace {

// Where an IPVS pair is said to be found: {"ipvsadm", "virtual server"}.
inline constexpr const char* kIpvsRules = "ipvsadm";
inline constexpr const char* kIpvsChain = "virtual server";

// Every (virtual server in `cidrs`, real server it masquerades to) pair of `ipvsadm -Ln --exact`'s
// output, with by_ipvs set; a virtual server with no real server at all gives one pair with no backend
// (IPVS refuses its connections: a Service with no endpoints). Real servers reached by direct routing
// or tunnelling keep their destination (no NAT to check) and are skipped, as are firewall-mark
// services. Lines it does not know are skipped.
std::vector<ServicePair> service_pairs_from_ipvsadm(std::string_view text, const std::vector<Cidr>& cidrs);

}  // namespace svctrace
