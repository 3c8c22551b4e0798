#include "diagnose/check.h"

#include <fmt/format.h>


namespace svctrace {

namespace {

// The source that `nat`, the node's source NAT case for a connection, gives it when its DNAT'd packets
// leave as `to_backend` says: SNAT's address, or MASQUERADE's (the address the egress device would use
// for the backend, as `ip route get` names it); nullopt when the source is not rewritten.
std::optional<IpAddr> rewritten_source(const std::optional<SourceNatCase>& nat, const Route& to_backend,
                                       RoutingView& routing) {
  if (!nat) return std::nullopt;
  switch (nat->action) {
    case SnatAction::Snat: return nat->to;
    case SnatAction::Masquerade:
      if (to_backend.prefsrc.is_set()) return to_backend.prefsrc;
      for (const auto& a : routing.addresses(to_backend.oif)) return a.addr;
      return std::nullopt;
    case SnatAction::None: case SnatAction::Unknown: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

bool egress_owns(const IpAddr& seen, const Route& to_backend, RoutingView& routing) {
  if (seen == to_backend.prefsrc) return true;
  for (const auto& a : routing.addresses(to_backend.oif))
    if (a.addr == seen) return true;
  return false;
}

bool backend_can_answer(const ServicePair& p, const IpAddr& source, const Route& to_backend, RoutingView& routing) {
  auto nat = source_nat_for(p.source_nat, source, to_backend.dev);
  return egress_owns(rewritten_source(nat, to_backend, routing).value_or(source), to_backend, routing);
}

CheckResult check_pair(const ServicePair& pair, RoutingView& routing, const std::vector<Cidr>& cidrs) {
  CheckResult r;
  r.pair = pair;
  if (!pair.backend_ip.is_set()) {  // an IPVS virtual server with no real server
    r.diagnosis.verdict = Verdict::NoEndpoints;
    r.diagnosis.reason = "IPVS's virtual server has no real server: connections to it are refused at once "
                         "(check the Service's endpoints)";
    return r;
  }
  r.source_route_get = routing.route_get(pair.service_ip, 0);
  if (r.source_route_get) r.source = r.source_route_get->prefsrc;
  auto to_backend = routing.route_get(pair.backend_ip, 0);
  if (!r.source_route_get || !r.source.is_set()) {
    r.diagnosis.verdict = Verdict::NoRoute;
    r.diagnosis.reason = "the service IP has no route: connect() fails at once (ENETUNREACH)";
    return r;
  }

  // The flow a connect() would make, judged by the same diagnosis as a traced one.
  Flow f;
  f.key.proto = pair.proto;
  f.key.src = r.source;
  f.key.dst = pair.service_ip;
  f.key.dport = pair.service_port;
  f.dnat_ip = pair.backend_ip;
  f.dnat_port = pair.backend_port ? pair.backend_port : pair.service_port;
  f.egress_ifindex = to_backend ? to_backend->oif : 0;
  f.route_ifindex = r.source_route_get ? r.source_route_get->oif : 0;
  // The source the backend would see, as conntrack's reply tuple shows it for a traced flow.
  if (to_backend) {
    auto nat = source_nat_for(pair.source_nat, r.source, to_backend->dev);
    f.snat_ip = rewritten_source(nat, *to_backend, routing);
    if (f.snat_ip) r.source_nat = nat;
  }
  r.seen_source = f.snat_ip.value_or(r.source);
  f.state = FlowState::Unanswered;
  r.diagnosis = diagnose(f, routing, cidrs);
  if (r.diagnosis.verdict != Verdict::AsymmetricSource) {
    r.diagnosis.verdict = Verdict::Ok;
    r.diagnosis.reason.clear();
  }
  return r;
}

}  // namespace svctrace
