// `svctrace check`: the outage, found before it happens. For each service IP -> endpoint pair in the
// namespace's NAT rules, it asks the routing which source a connection to the service IP would get and
// where the DNAT'd packet would leave, follows the node's source NAT (the pair's source_nat: kube-proxy
// masquerades service traffic from outside the pod CIDR), and reports each pair that would reach its
// backend with a source the egress device does not own. No traffic is sent.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "diagnose/diagnosis.h"
#include "node/rules/service_pair.h"
#include "node/route.h"

namespace svctrace {

struct CheckResult {
  ServicePair pair;
  IpAddr source;              // what the kernel would choose for the service IP
  std::optional<Route> source_route_get;
  std::optional<SourceNatCase> source_nat;  // the node's rewrite of that source, when it has one
  IpAddr seen_source;         // what the backend would see: the rewritten source, or `source`
  Diagnosis diagnosis;        // AsymmetricSource, NoRoute or NoEndpoints when the pair would fail, else Ok
  bool ok() const { return diagnosis.verdict == Verdict::Ok; }
};

CheckResult check_pair(const ServicePair& pair, RoutingView& routing, const std::vector<Cidr>& cidrs);

// Whether the backend could answer `seen`, the source it sees of a connection leaving as `to_backend`
// says: it is the one the egress device uses for it, or one the device owns.
bool egress_owns(const IpAddr& seen, const Route& to_backend, RoutingView& routing);

// Whether p's backend could answer a connection from `source` leaving as `to_backend` says, after the
// node's source NAT (p.source_nat) rewrote that source or not.
bool backend_can_answer(const ServicePair& p, const IpAddr& source, const Route& to_backend, RoutingView& routing);

}  // namespace svctrace
