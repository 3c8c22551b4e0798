// The diagnosis, step by step (diagnose() in diagnosis.h runs them): what was seen of a failed flow and
// looked up about it (Evidence), then one explain_ function per verdict, tried in docs/verdicts.md's
// order of precedence. Each returns its verdict's Diagnosis when the evidence fits it, nullopt when it
// does not; each relies on the ones before it having declined (explain_refused takes any refused flow
// that explain_no_endpoints, explain_dropped_here and explain_unreachable left), and
// explain_unanswered, last, takes whatever is left.
#pragma once
#include <optional>
#include <utility>
#include <vector>

#include "diagnose/diagnosis.h"

namespace svctrace {

struct Evidence {
  Evidence(const Flow& f, Diagnosis s) : flow(f), seen(std::move(s)) {}

  const Flow& flow;
  // What every diagnosis of the flow says, whatever its verdict: the flow, its counts, process and
  // devices, the drops seen and, for a flow out of this node, its VRF, where it left and the source the
  // egress device would use. verdict and reason are left to the explain_ functions.
  Diagnosis seen;
  // For a flow out of this node (not flow.inbound):
  std::optional<Route> to_backend;      // `ip route get BACKEND` (in the flow's VRF)
  int vrf_ifindex = 0;                  // the VRF device the flow's lookups are made in, 0 for none
  int egress = 0;                       // the ifindex the DNAT'd packet left by, 0 if unknown
  const char* no_route_from = nullptr;  // "net", "host", ...: an ICMP error said a sender has no route
  IpAddr seen_source;                   // the source the backend sees (after SNAT, if any)
  bool source_on_egress = false;        // the egress device owns seen_source
  // The source was chosen by the route to the service IP and the egress device does not own it (never
  // for a forwarded flow: its source was the pod's choice).
  bool asymmetric = false;
};

Evidence gather_evidence(const Flow& flow, RoutingView& routing, const DropReasonNames& drop_reasons);

// In the order diagnose() tries them.
std::optional<Diagnosis> explain_no_route_back(const Evidence& ev, RoutingView& routing);
std::optional<Diagnosis> explain_no_endpoints(const Evidence& ev);
std::optional<Diagnosis> explain_reply_invalid(const Evidence& ev);
std::optional<Diagnosis> explain_dropped_here(const Evidence& ev);
std::optional<Diagnosis> explain_unreachable(const Evidence& ev);
std::optional<Diagnosis> explain_refused(const Evidence& ev);
std::optional<Diagnosis> explain_reply_dropped(const Evidence& ev, RoutingView& routing,
                                               const std::vector<Cidr>& cidrs);
std::optional<Diagnosis> explain_asymmetric_source(const Evidence& ev, RoutingView& routing,
                                                   const std::vector<Cidr>& cidrs);
std::optional<Diagnosis> explain_not_dnatted(const Evidence& ev);
Diagnosis explain_unanswered(const Evidence& ev);

}  // namespace svctrace
