#include "svctrace/check.h"

namespace svctrace {

CheckResult check_pair(const ServicePair& pair, RoutingView& routing, const std::vector<Cidr>& cidrs) {
  CheckResult r;
  r.pair = pair;
  r.source_route_get = routing.route_get(pair.service_ip);
  if (r.source_route_get) r.source = r.source_route_get->prefsrc;
  auto to_backend = routing.route_get(pair.backend_ip);
  if (!r.source_route_get || !r.source.is_set()) {
    r.diagnosis.verdict = "no_route";
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
  if (r.diagnosis.verdict != "asymmetric_source") {
    r.diagnosis.verdict = "ok";
    r.diagnosis.reason.clear();
  }
  return r;
}

}  // namespace svctrace
