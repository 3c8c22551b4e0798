// Never print a fix that breaks what works. A route fix for the failing service changes the source
// of every connection to the service IPs it covers, whichever endpoint conntrack DNATs them to, and the
// egress of every backend it covers: each candidate is judged against every service -> endpoint pair
// the node has (its NAT rules' and those seen while tracing), in order of how little it touches: the
// route for the whole CIDR, the route for the service IP only, then a source NAT for exactly the
// broken direction. The first that fixes the failing pair and changes no working pair's egress or
// usable source is printed; when none passes, none is, and the pairs that conflict are named.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "diagnose/diagnosis.h"
#include "node/route.h"
#include "node/rules/service_pair.h"

namespace svctrace {

// A source NAT rule inserted first on the postrouting hook: connections from `from` leaving by `dev`
// get source `to` (the address the egress device uses).
struct SourceNatFix {
  IpAddr from;
  std::string dev;
  IpAddr to;
  bool applies(const IpAddr& source, const std::string& egress) const { return source == from && egress == dev; }
};

// How a pair's connections fare: the device they leave by and whether the backend can answer the
// source it sees. routed is false when the service IP or the backend has no route.
struct PairFate {
  bool routed = false;
  std::string egress;
  bool answered = false;
};

// The fate of p's connections made in VRF `vrf` (0: none) with `routing` as it answers, and `snat`
// applied first on the postrouting hook if given.
PairFate pair_fate(const ServicePair& p, RoutingView& routing, int vrf, const std::optional<SourceNatFix>& snat);

// What a source NAT candidate must do to one pair's connections: leave `source` as `after` on their
// way to the backend (rewritten where the candidate applies, untouched elsewhere).
struct NatExpectation {
  uint8_t proto = 0;
  IpAddr source;
  IpAddr backend;
  uint16_t backend_port = 0;
  IpAddr after;
};

// The kernel's answer for a source NAT candidate: asked false when it could not be asked (then the
// candidate stands on svctrace's reasoning); else `refuted` says what it did otherwise, "" if nothing.
struct NatProof {
  bool asked = false;
  std::string refuted;
};

// Where the routing a candidate is judged in comes from: the kernel of a scratch namespace that mirrors
// the node with the candidate route added (proven), or svctrace's own model of it (reasoned).
class FixProver {
 public:
  virtual ~FixProver() = default;
  // The node's routing with `route` added, or nullptr when it cannot be had (then the candidate fails).
  // Valid until the next call.
  virtual RoutingView* with_route(const Route& route) = 0;
  virtual bool proves() const = 0;
  // Runs the source NAT fix `command` where the prover can, and asks the NAT step for each of `expect`.
  virtual NatProof with_source_nat(const std::string& /*command*/, const std::vector<NatExpectation>& /*expect*/) {
    return {};
  }
};

// The reasoning fallback: `live` with the candidate route overlaid where svctrace's model says it
// decides (its prefix covers the address and no more specific route does).
class ReasonedProver : public FixProver {
 public:
  explicit ReasonedProver(RoutingView& live) : live_(live) {}
  RoutingView* with_route(const Route& route) override;
  bool proves() const override { return false; }

 private:
  RoutingView& live_;
  std::unique_ptr<RoutingView> overlay_;  // the last with_route's, alive until the next call
};

// The failing pair of d (its service IP and the endpoint it was DNAT'd to), merged with `pairs` (the
// NAT rules' first, then those traced), each once.
std::vector<ServicePair> pairs_to_check(const Diagnosis& d, const std::vector<ServicePair>& pairs);

// Chooses d's fix among the candidates, judged by `prover` against `pairs` (see pairs_to_check);
// fills fix, fix_route, fix_would_break, fix_conflicts, fix_alternative, fix_checked_against and
// fix_proven. `live` is the node's routing as it is.
void choose_safe_fix(Diagnosis& d, const std::vector<ServicePair>& pairs, RoutingView& live, FixProver& prover);

// choose_safe_fix with the reasoning fallback.
void keep_fix_safe(Diagnosis& d, const std::vector<ServicePair>& pairs, RoutingView& routing);

// choose_safe_fix proven by the kernel: each route candidate is tried in a scratch namespace that
// mirrors the calling thread's (node/routing_mirror.h), which `routing` must answer for. Where the
// mirror cannot be built (no CAP_SYS_ADMIN), svctrace's reasoning, and fix_proven stays false.
void prove_fix_safe(Diagnosis& d, const std::vector<ServicePair>& pairs, RoutingView& routing);

// The command that inserts `snat` for the NAT framework the pairs were read from ("iptables-save":
// iptables or ip6tables, whichever backend the node's iptables-save used; "nft": a table of its own
// whose chain runs just before the others on the postrouting hook).
std::string source_nat_fix_command(const SourceNatFix& snat, const std::string& framework);

}  // namespace svctrace
