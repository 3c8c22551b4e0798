#include "diagnose/safe_fix.h"

#include <fmt/format.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>

#include "diagnose/check.h"
#include "node/routing_mirror.h"
#include "node/rules/ipvs.h"

namespace svctrace {

namespace {

uint8_t full_length(const IpAddr& ip) { return static_cast<uint8_t>(ip.size() * 8); }

// svctrace's model of the node's routing with one route added: the route decides for an address its
// prefix covers unless a more specific route already does. It knows nothing of rule order across
// tables, which is why a kernel's answer is preferred.
class RouteOverlay : public RoutingView {
 public:
  RouteOverlay(RoutingView& base, Route added) : base_(base), added_(std::move(added)) {}

  std::optional<Route> fib_match(const IpAddr& dst, int vrf) override {
    return decides(dst, vrf) ? std::optional<Route>(added_) : base_.fib_match(dst, vrf);
  }
  std::optional<Route> route_get(const IpAddr& dst, int vrf) override {
    if (!decides(dst, vrf)) return base_.route_get(dst, vrf);
    Route r = added_;
    r.dst = dst;
    r.dst_len = full_length(dst);
    if (!r.prefsrc.is_set())
      for (const auto& a : base_.addresses(r.oif))
        if (a.addr.family == dst.family) {
          r.prefsrc = a.addr;
          break;
        }
    return r;
  }
  std::vector<InterfaceAddress> addresses(int ifindex) override { return base_.addresses(ifindex); }
  std::string interface_name(int ifindex) override { return base_.interface_name(ifindex); }
  std::vector<Route> routes(uint32_t table) override {
    std::vector<Route> out = base_.routes(table);
    if (table == added_.table) out.push_back(added_);
    return out;
  }
  std::vector<Rule> rules(uint8_t family) override { return base_.rules(family); }
  std::vector<Vrf> vrfs() override { return base_.vrfs(); }

 private:
  bool decides(const IpAddr& dst, int vrf) {
    if (!Cidr{added_.dst, added_.dst_len}.contains(dst)) return false;
    std::optional<Route> now = base_.fib_match(dst, vrf);
    return !now || now->dst_len <= added_.dst_len;
  }
  RoutingView& base_;
  Route added_;
};

// What a candidate does, judged against every pair.
struct Judgement {
  bool fixes = false;               // the failing pair gets a source its egress device owns
  std::vector<std::string> breaks;  // pairs that work now and would not, or would leave elsewhere
};

std::string pair_text(const ServicePair& p, const PairFate& before, const PairFate& after) {
  std::string what = fmt::format("{} {}:{} → {}", proto_name(p.proto), p.service_ip.str(), p.service_port,
                                 p.backend_ip.str());
  if (after.routed && after.egress != before.egress)
    return fmt::format("{} (would leave {} instead of {})", what, after.egress, before.egress);
  return fmt::format("{} (leaves {})", what, before.egress);
}

Judgement judge(const std::vector<ServicePair>& pairs, const ServicePair& failing, RoutingView& live,
                RoutingView& after, int vrf, const std::optional<SourceNatFix>& snat) {
  Judgement j;
  j.fixes = pair_fate(failing, after, vrf, snat).answered;
  for (const ServicePair& p : pairs) {
    if (pair_key(p) == pair_key(failing)) continue;
    const PairFate before = pair_fate(p, live, vrf, std::nullopt);
    if (!before.answered) continue;  // a pair that fails already is not one a fix breaks
    const PairFate then = pair_fate(p, after, vrf, snat);
    if (then.answered && then.egress == before.egress) continue;
    j.breaks.push_back(pair_text(p, before, then));
  }
  return j;
}

ServicePair failing_pair(const Diagnosis& d) {
  ServicePair p;
  p.proto = d.flow.proto;
  p.service_ip = d.flow.dst;
  p.service_port = d.flow.dport;
  p.backend_ip = d.dnat_ip.value_or(IpAddr{});
  p.backend_port = d.dnat_port;
  p.chain = "traced";
  return p;
}

// The rules the failing service's pairs were read from ("iptables-save", "nft"), or any pair's; ""
// when no rules were read.
std::string nat_framework(const std::vector<ServicePair>& pairs, const IpAddr& service) {
  std::string any;
  for (const ServicePair& p : pairs) {
    if (p.found_in.empty()) continue;
    if (p.service_ip == service) return p.found_in.front().rules;
    if (any.empty()) any = p.found_in.front().rules;
  }
  return any;
}

bool from_kube_proxy(const std::vector<ServicePair>& pairs, const IpAddr& service) {
  for (const ServicePair& p : pairs)
    for (const RuleOrigin& o : p.found_in)
      if (p.service_ip == service && (o.chain.starts_with("KUBE-") || o.chain.find("kube-proxy") != std::string::npos ||
                                      o.rules == kIpvsRules))
        return true;
  return false;
}

bool set_route_fix(Diagnosis& d, const Route& r, const Judgement& j, size_t checked, bool proven,
                   RoutingView& live) {
  if (!j.fixes || !j.breaks.empty()) return false;
  d.fix = route_fix_command(r, live);
  d.fix_route = r;
  d.fix_checked_against = checked;
  d.fix_proven = proven;
  return true;
}

// What `snat` must do to each routed pair's connections, as svctrace's model says.
std::vector<NatExpectation> nat_expectations(const std::vector<ServicePair>& pairs, RoutingView& live, int vrf,
                                             const SourceNatFix& snat) {
  std::vector<NatExpectation> out;
  for (const ServicePair& p : pairs) {
    std::optional<Route> service = live.route_get(p.service_ip, vrf);
    std::optional<Route> to_backend = live.route_get(p.backend_ip, vrf);
    if (!service || !service->prefsrc.is_set() || !to_backend) continue;
    const IpAddr& source = service->prefsrc;
    out.push_back({p.proto, source, p.backend_ip, p.backend_port,
                   snat.applies(source, to_backend->dev) ? snat.to : source});
  }
  return out;
}

// When no route passes: a source NAT for exactly the broken direction, if one does. Judged by
// svctrace's model, then, where the prover can, by the kernel's NAT step with the fix's own command.
void try_source_nat(Diagnosis& d, const std::vector<ServicePair>& pairs, const ServicePair& failing,
                    RoutingView& live, int vrf, FixProver& prover) {
  const std::string framework = nat_framework(pairs, d.flow.dst);
  if (framework.empty()) {
    d.no_source_nat_why = "none of the node's NAT rules was read, so no source NAT can be written for them";
    return;
  }
  const SourceNatFix snat{d.flow.src, d.egress_dev, d.expected_source};
  const Judgement j = judge(pairs, failing, live, live, vrf, snat);
  if (!j.fixes || !j.breaks.empty()) {
    d.no_source_nat_why = j.breaks.empty() ? fmt::format("a source NAT to {} would not fix it", snat.to.str())
                                           : fmt::format("a source NAT to {} would break {}", snat.to.str(),
                                                         fmt::join(j.breaks, ", "));
    return;
  }
  const std::string command = source_nat_fix_command(snat, framework);
  // A socket in a VRF is one bound to its device, which the kernel's probe does not make. A device
  // name that needed quoting is not tried (nft's own quotes could not hold a " in it): the fix is
  // then printed unproven, as where no scratch namespace can be had.
  const bool askable = !vrf && plain_word(snat.dev);
  const NatProof proof = askable ? prover.with_source_nat(command, nat_expectations(pairs, live, vrf, snat)) : NatProof{};
  if (!proof.refuted.empty()) {
    d.no_source_nat_why = fmt::format("a source NAT to {}, tried in a scratch namespace, {}", snat.to.str(),
                                      proof.refuted);
    return;
  }
  d.fix = command;
  d.fix_checked_against = pairs.size();
  d.fix_proven = proof.asked;
  if (from_kube_proxy(pairs, d.flow.dst))
    d.fix_alternative = "kube-proxy's --masquerade-all (masqueradeAll: true) makes it unnecessary";
}

}  // namespace

PairFate pair_fate(const ServicePair& p, RoutingView& routing, int vrf, const std::optional<SourceNatFix>& snat) {
  if (!p.backend_ip.is_set()) return {};  // an IPVS virtual server with no real server: nothing to route
  std::optional<Route> service = routing.route_get(p.service_ip, vrf);
  std::optional<Route> to_backend = routing.route_get(p.backend_ip, vrf);
  if (!service || !service->prefsrc.is_set() || !to_backend) return {};
  PairFate f{true, to_backend->dev, false};
  if (snat && snat->applies(service->prefsrc, to_backend->dev))
    f.answered = egress_owns(snat->to, *to_backend, routing);
  else
    f.answered = backend_can_answer(p, service->prefsrc, *to_backend, routing);
  return f;
}

RoutingView* ReasonedProver::with_route(const Route& route) {
  overlay_ = std::make_unique<RouteOverlay>(live_, route);
  return overlay_.get();
}

std::vector<ServicePair> pairs_to_check(const Diagnosis& d, const std::vector<ServicePair>& pairs) {
  return merge_service_pairs({pairs, {failing_pair(d)}});
}

void choose_safe_fix(Diagnosis& d, const std::vector<ServicePair>& given, RoutingView& live, FixProver& prover) {
  if (!d.fix_route || !d.fix_route->prefsrc.is_set() || !d.dnat_ip) return;
  const std::vector<ServicePair> pairs = pairs_to_check(d, given);
  ServicePair failing = failing_pair(d);
  for (const ServicePair& p : pairs)
    if (pair_key(p) == pair_key(failing)) failing = p;
  const int vrf = d.vrf ? d.vrf->ifindex : 0;

  // The service IP is an address of this node (IPVS's, on kube-ipvs0): the local table, looked up
  // first, gives it as its own source, and a route elsewhere changes nothing (one in the local table
  // would take the address's route away, and IPVS with it).
  if (auto service = live.fib_match(d.flow.dst, vrf); service && service->type == RTN_LOCAL) {
    d.fix.clear();
    d.fix_route.reset();
    d.no_route_fix_why = fmt::format("{} is an address of this node (on {}): the local route gives it as the "
                                     "source, and no route changes that", d.flow.dst.str(), service->dev);
    try_source_nat(d, pairs, failing, live, vrf, prover);
    return;
  }

  const Route wide = *d.fix_route;
  Route narrow = wide;
  narrow.dst = d.flow.dst;
  narrow.dst_len = full_length(d.flow.dst);
  std::vector<Route> candidates = {wide};
  if (wide.dst_len < narrow.dst_len) candidates.push_back(narrow);

  std::vector<std::string> wide_breaks, last_breaks;
  d.fix.clear();
  d.fix_route.reset();
  for (const Route& r : candidates) {
    RoutingView* after = prover.with_route(r);
    if (!after) continue;
    Judgement j = judge(pairs, failing, live, *after, vrf, std::nullopt);
    if (set_route_fix(d, r, j, pairs.size(), prover.proves(), live)) {
      d.fix_would_break = wide_breaks;  // empty when the wide one passed
      return;
    }
    if (&r == &candidates.front()) wide_breaks = j.breaks;
    last_breaks = j.breaks;
  }
  d.fix_conflicts = last_breaks;
  try_source_nat(d, pairs, failing, live, vrf, prover);
}

void keep_fix_safe(Diagnosis& d, const std::vector<ServicePair>& pairs, RoutingView& routing) {
  ReasonedProver reasoned(routing);
  choose_safe_fix(d, pairs, routing, reasoned);
}

namespace {

// Each candidate in a fresh mirror of the node, so that one's route never weighs on the next's.
class KernelProver : public FixProver {
 public:
  KernelProver() : mirror_(std::make_unique<RoutingMirror>()) {}  // throws when no mirror can be had
  RoutingView* with_route(const Route& route) override {
    fresh();
    if (std::string why = mirror_->add_route(route); !why.empty()) {
      spdlog::debug("the scratch namespace's kernel refused route {}: {}", format_route(route), why);
      return nullptr;
    }
    return &mirror_->routing();
  }
  bool proves() const override { return true; }
  NatProof with_source_nat(const std::string& command, const std::vector<NatExpectation>& expect) override {
    try {
      fresh();
    } catch (const std::exception& e) {
      spdlog::debug("no scratch namespace for the source NAT fix: {}", e.what());
      return {};
    }
    if (std::string why = mirror_->run(command); !why.empty()) {
      spdlog::debug("the source NAT fix could not be run in the scratch namespace ({}): {}", why, command);
      return {};
    }
    for (const NatExpectation& e : expect) {
      std::optional<IpAddr> got = mirror_->source_after_nat(e.proto, e.source, e.backend, e.backend_port);
      if (!got) return {};
      if (*got != e.after)
        return {true, fmt::format("gave {} {} → {}:{} source {}, not {}", proto_name(e.proto), e.source.str(),
                                  e.backend.str(), e.backend_port, got->str(), e.after.str())};
    }
    return {true, ""};
  }

 private:
  void fresh() {
    if (used_) mirror_ = std::make_unique<RoutingMirror>();
    used_ = true;
  }
  std::unique_ptr<RoutingMirror> mirror_;
  bool used_ = false;
};

}  // namespace

void prove_fix_safe(Diagnosis& d, const std::vector<ServicePair>& pairs, RoutingView& routing) {
  if (!d.fix_route) return;
  std::unique_ptr<KernelProver> kernel;
  try {
    kernel = std::make_unique<KernelProver>();
  } catch (const std::exception& e) {
    spdlog::debug("the fix is reasoned, not proven: {}", e.what());
    keep_fix_safe(d, pairs, routing);
    return;
  }
  choose_safe_fix(d, pairs, routing, *kernel);
}

std::string source_nat_fix_command(const SourceNatFix& snat, const std::string& framework) {
  const bool v6 = snat.from.family == AF_INET6;
  if (framework == "nft") {
    const char* family = v6 ? "ip6" : "ip";
    return "nft " + shell_word(fmt::format(
                        "add table {0} svctrace-fix; add chain {0} svctrace-fix postrouting {{ type nat hook "
                        "postrouting priority 99; }}; add rule {0} svctrace-fix postrouting oifname \"{1}\" {0} "
                        "saddr {2} snat to {3}",
                        family, snat.dev, snat.from.str(), snat.to.str()));
  }
  return fmt::format("{} -t nat -I POSTROUTING 1 -o {} -s {}/{} -j SNAT --to-source {}", v6 ? "ip6tables" : "iptables",
                     shell_word(snat.dev), snat.from.str(), full_length(snat.from), snat.to.str());
}

}  // namespace svctrace
