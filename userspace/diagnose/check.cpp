#include "diagnose/check.h"

#include <fmt/format.h>


namespace svctrace {

CheckResult check_pair(const ServicePair& pair, RoutingView& routing, const std::vector<Cidr>& cidrs) {
  CheckResult r;
  r.pair = pair;
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
  f.state = FlowState::Unanswered;
  r.diagnosis = diagnose(f, routing, cidrs);
  if (r.diagnosis.verdict != Verdict::AsymmetricSource) {
    r.diagnosis.verdict = Verdict::Ok;
    r.diagnosis.reason.clear();
  }
  return r;
}

void keep_fix_safe(Diagnosis& d, const std::vector<ServicePair>& pairs, RoutingView& routing) {
  if (!d.fix_route || !d.fix_route->prefsrc.is_set()) return;
  const Route& fix = *d.fix_route;
  const Cidr prefix{fix.dst, fix.dst_len};
  // The fix is for the lookups of d's VRF (if any): the other services as a socket there reaches them.
  const int vrf = d.vrf ? d.vrf->ifindex : 0;
  for (const auto& p : pairs) {
    if (!prefix.contains(p.service_ip) || p.service_ip == d.flow.dst) continue;
    auto to_backend = routing.route_get(p.backend_ip, vrf);
    if (!to_backend || to_backend->prefsrc == fix.prefsrc) continue;
    bool owned = false;
    for (const auto& a : routing.addresses(to_backend->oif)) owned |= a.addr == fix.prefsrc;
    if (owned) continue;
    d.fix_would_break.push_back(fmt::format("{} {}:{} → {} (leaves {})", proto_name(p.proto), p.service_ip.str(),
                                            p.service_port, p.backend_ip.str(), to_backend->dev));
  }
  if (d.fix_would_break.empty()) return;
  Route narrow = fix;
  narrow.dst = d.flow.dst;
  narrow.dst_len = static_cast<uint8_t>(d.flow.dst.size() * 8);
  d.fix = route_fix_command(narrow, routing);
  d.fix_route = narrow;
}

}  // namespace svctrace
