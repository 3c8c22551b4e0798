#include "diagnose/explain.h"

#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace svctrace {

static bool default_table(uint32_t table) {
  return table == kTableLocal || table == kTableMain || table == kTableDefault;
}

// How policy routing sent the lookup for the flow's service IP to `table`.
struct Selection {
  std::optional<Rule> rule;    // the first rule, by priority, that sends the lookup there; none when
                               // the default rules alone did (local, main, default)
  std::optional<Rule> missed;  // an l3mdev rule consulted before it: the VRF's table had no route
};

static Selection selecting_rule(RoutingView& routing, const Flow& flow, uint32_t table,
                                const std::optional<Vrf>& vrf) {
  std::optional<uint32_t> mark;
  if (flow.route && flow.route->mark) mark = flow.route->mark;
  const uint32_t vrf_table = vrf ? vrf->table : 0;
  Selection s;
  for (const Rule& r : routing.rules(flow.key.dst.family)) {
    if (!r.selects(flow.key.src, flow.key.dst, mark, vrf_table)) continue;
    if (r.table_for(vrf_table) != table) {
      if (r.l3mdev && !s.missed) s.missed = r;
      continue;
    }
    bool default_rule = !r.from && !r.to && !r.fwmark && r.iif.empty() && !r.l3mdev && default_table(r.table);
    if (!default_rule) s.rule = r;
    return s;
  }
  s.missed.reset();
  return s;
}

// The most specific route of `table` whose prefix holds ip, if any.
static std::optional<Route> covering_route(RoutingView& routing, uint32_t table, const IpAddr& ip) {
  std::optional<Route> best;
  for (const auto& r : routing.routes(table)) {
    if (r.dst.is_set() && r.dst.family != ip.family) continue;
    bool covers = r.dst_len == 0 || Cidr{r.dst, r.dst_len}.contains(ip);
    if (covers && (!best || r.dst_len > best->dst_len)) best = r;
  }
  return best;
}

// Whether `route`, found now, can be the route the kernel chose for the flow (its decision as seen):
// a route that came or went since (one flapping while connects run) must not be blamed for a source
// it did not choose. It cannot be when its own src is another address, or when it leads out of
// another device or via another gateway than the decision did.
static bool chose_this_flow(const std::optional<Route>& route, const Flow& flow) {
  if (!route) return true;  // nothing named, nothing wrongly blamed
  if (route->prefsrc.is_set() && route->prefsrc != flow.key.src) return false;
  if (!flow.route || !route->nexthops.empty()) return true;
  if (route->oif && flow.route->oif && route->oif != flow.route->oif) return false;
  return !(route->gateway.is_set() && flow.route->gateway.is_set() && route->gateway != flow.route->gateway);
}

// Names the route that chose the flow's source and the rule that selected its table (d.source_route,
// d.source_rule, d.vrf_table_missed); returns the table a fix belongs in: that table, or the VRF's
// when the lookup fell through it.
static uint32_t name_source_route(Diagnosis& d, const Flow& flow, RoutingView& routing) {
  const int vrf = d.vrf ? d.vrf->ifindex : 0;
  d.source_route = routing.fib_match(flow.key.dst, vrf);
  uint32_t table = d.source_route ? d.source_route->table : (flow.route ? flow.route->table : kTableMain);
  // The lookup above and the read of the table (for the fix) are two reads of a routing that may be
  // changing: a route for the service IP added between them shows in the table, more specific than the
  // one the lookup named. It decides now; when it cannot have chosen this flow's source, it is the one
  // to name, so that the flow is said to predate it rather than given a fix that is already in place.
  if (auto listed = covering_route(routing, table, flow.key.dst);
      listed && d.source_route && listed->dst_len > d.source_route->dst_len && !chose_this_flow(listed, flow))
    d.source_route = listed;
  Selection sel = selecting_rule(routing, flow, table, d.vrf);
  d.source_rule = sel.rule;
  d.vrf_table_missed = d.vrf && sel.missed && !sel.rule && default_table(table);
  return d.vrf_table_missed ? d.vrf->table : table;
}

// The route to add so that connect() picks the expected source for the service CIDR: the same path
// the backend's route takes, with the source pinned, in `table` (the one that currently decides).
// Sets d.fix (`replace` when that table already has a route for the prefix) and d.fix_route; nothing
// when there is no route to the backend to follow.
static void add_route_fix(Diagnosis& d, const Evidence& ev, uint32_t table, RoutingView& routing,
                          const std::vector<Cidr>& cidrs) {
  if (!ev.to_backend || ev.to_backend->dev.empty()) return;
  const Cidr cidr = covering_cidr(cidrs, ev.flow.key.dst);
  Route fix;
  fix.dst = cidr.addr;
  fix.dst_len = cidr.prefix_len;
  fix.gateway = ev.to_backend->gateway;
  fix.oif = ev.to_backend->oif;
  fix.dev = ev.to_backend->dev;
  fix.prefsrc = d.expected_source;
  fix.table = table;
  d.fix = route_fix_command(fix, routing);
  d.fix_route = fix;
}

static bool has(const std::vector<IpAddr>& addrs, const IpAddr& a) {
  return std::find(addrs.begin(), addrs.end(), a) != addrs.end();
}

static std::string icmp_text(const Flow& flow) {
  return fmt::format("icmp type {} code {}", flow.icmp_type, flow.icmp_code);
}

// Follows the rules a lookup from the local address to the client goes through, as the kernel's did:
// fills d.tables_tried, and d.route_back_now when a route back has appeared since. Returns what ended
// the lookup without a route when a rule or route says no outright, else "".
static std::string follow_rules_back(Diagnosis& d, const Flow& flow, RoutingView& routing) {
  constexpr uint8_t kToTable = 1, kBlackhole = 6, kUnreachable = 7, kProhibit = 8;  // FR_ACT_*
  constexpr uint8_t kRtnUnicast = 1, kRtnLocal = 2, kRtnThrow = 9;
  const IpAddr& client = flow.key.src;
  for (const Rule& r : routing.rules(client.family)) {
    if (!r.matches(flow.key.dst, client, std::nullopt)) continue;
    if (r.action == kBlackhole || r.action == kUnreachable || r.action == kProhibit)
      return fmt::format("rule \"{}\" refuses it", format_rule(r));
    if (r.action != kToTable) continue;
    d.tables_tried.push_back(table_name(r.table));
    auto route = covering_route(routing, r.table, client);
    if (!route) continue;
    if (route->type == kRtnThrow) continue;  // the kernel goes on to the next rule
    if (route->type != kRtnUnicast && route->type != kRtnLocal)
      return fmt::format("route \"{}\" refuses it", format_route(*route));
    d.route_back_now = route;
    return "";
  }
  return "";
}

// On a backend: the flow's SYNs came in and the kernel found no route for the answer. Names the tables
// that have no route back (or the route that has appeared since).
std::optional<Diagnosis> explain_no_route_back(const Evidence& ev, RoutingView& routing) {
  const Flow& flow = ev.flow;
  if (!flow.inbound) return std::nullopt;
  const IpAddr& client = flow.key.src;
  const IpAddr& local = flow.key.dst;
  Diagnosis d = ev.seen;
  d.verdict = Verdict::NoRouteBack;
  d.arrival_dev = routing.interface_name(flow.arrival_ifindex);
  d.missed_table = flow.reply_route_missed_table;
  d.check = fmt::format("ip route get {} from {}", client.str(), local.str());
  const std::string ends = follow_rules_back(d, flow, routing);
  uint32_t n = flow.syns();
  std::string came = fmt::format("{} SYN{} from {}:{} reached {}:{}{}", n, n == 1 ? "" : "s", client.str(),
                                 flow.key.sport, local.str(), flow.key.dport,
                                 d.arrival_dev.empty() ? "" : " on " + d.arrival_dev);
  std::string missed =
      flow.reply_route_err == -EAGAIN || flow.reply_route_err == 0
          ? fmt::format("the kernel found no route back to {} for the answer (its lookup missed in table {})",
                        client.str(), table_name(d.missed_table))
          : fmt::format("the kernel's lookup of a route back to {} for the answer hit a route in table {} that "
                        "refuses it ({})",
                        client.str(), table_name(d.missed_table), std::strerror(-flow.reply_route_err));
  if (d.route_back_now) {
    d.reason = fmt::format("{}, but {} when they came; the routing has changed since: route \"{}\" (table {}) "
                           "leads back now, so new SYNs should be answered",
                           came, missed, format_route(*d.route_back_now), table_name(d.route_back_now->table));
    return d;
  }
  d.reason = fmt::format(
      "{}, but {}, so no SYN-ACK was sent; {}. Either the client chose a source this host cannot reach (on the "
      "client node, svctrace names the route that chose it), or this host lacks a route to {}",
      came, missed,
      !ends.empty() ? ends
                    : fmt::format("none of the tables the rules send it to ({}) covers {}",
                                  fmt::join(d.tables_tried, ", "), client.str()),
      client.str());
  return d;
}

// A virtual service IP refused without being DNAT'd: a REJECT rule said no, as kube-proxy's does for a
// service with no ready endpoints, or IPVS did, for a virtual server with no real server.
std::optional<Diagnosis> explain_no_endpoints(const Evidence& ev) {
  const Flow& flow = ev.flow;
  if (flow.state != FlowState::Refused || flow.dnat_ip || flow.forwarded() || ev.no_route_from) return std::nullopt;
  Diagnosis d = ev.seen;
  d.verdict = Verdict::NoEndpoints;
  d.answered_by = flow.icmp_error ? icmp_text(flow) : (flow.sk_err ? "local error" : "rst");
  d.reason = fmt::format("{}:{} was not DNAT'd and was refused at once: a REJECT rule answered, as kube-proxy's "
                         "does for a service with no ready endpoints, or IPVS, for a virtual server with no real "
                         "server (check the Service's endpoints)",
                         flow.key.dst.str(), flow.key.dport);
  if (flow.drops) d.answered_by = "local reject (" + d.drop_reason + ")";
  return d;
}

// A reply came, and conntrack found it fit no state of the flow: it had no entry when it was dropped.
std::optional<Diagnosis> explain_reply_invalid(const Evidence& ev) {
  const Flow& flow = ev.flow;
  if (!flow.reply_invalid) return std::nullopt;
  Diagnosis d = ev.seen;
  d.verdict = Verdict::ReplyInvalid;
  d.reply_dev = d.drop_dev;
  d.reason = fmt::format("a reply from {}:{} arrived on {} and conntrack found it INVALID (it fits no state of the "
                         "flow: a sequence number out of the window, impossible TCP flags, or a middlebox "
                         "rewriting them), and the kernel dropped it ({}): `conntrack -S` counts it under "
                         "invalid",
                         flow.backend_ip().str(), flow.backend_port(), d.drop_dev.empty() ? "this node" : d.drop_dev,
                         d.drop_reason);
  return d;
}

// Dropped by this node before it left, with no answer from anywhere: a filter rule, most likely.
std::optional<Diagnosis> explain_dropped_here(const Evidence& ev) {
  const Flow& flow = ev.flow;
  bool dropped_here = flow.drops && !flow.reply_ns && !flow.icmp_error;
  if (!dropped_here || (flow.state != FlowState::Refused && flow.state != FlowState::Unanswered))
    return std::nullopt;
  Diagnosis d = ev.seen;
  d.verdict = Verdict::DroppedHere;
  if (flow.untracked_drop) {
    // Not a filter rule: conntrack had no entry for the packet, and NAT never saw it.
    d.reason = fmt::format("this node dropped the flow's packets to {}:{} before conntrack made them an entry "
                           "({}{}): conntrack's table is full (the kernel logs \"nf_conntrack: table full, dropping "
                           "packet\"; compare `conntrack -C` with net.netfilter.nf_conntrack_max), or a rule of the "
                           "raw table dropped them",
                           flow.key.dst.str(), flow.key.dport, d.drop_reason, d.drop_dev.empty() ? "" : " on " + d.drop_dev);
    return d;
  }
  d.reason = fmt::format("this node dropped the flow's packets before they reached {}:{} ({}{}): a "
                         "firewall rule, most likely", flow.backend_ip().str(), flow.backend_port(), d.drop_reason,
                         d.drop_dev.empty() ? "" : " on " + d.drop_dev);
  return d;
}

// Not the backend saying no: someone on the way (a router, the backend, or this node) has no way to it.
std::optional<Diagnosis> explain_unreachable(const Evidence& ev) {
  const Flow& flow = ev.flow;
  const char* what = ev.no_route_from;
  if (flow.state != FlowState::Refused || !what) return std::nullopt;
  const IpAddr backend = flow.backend_ip();
  Diagnosis d = ev.seen;
  d.verdict = Verdict::Unreachable;
  d.answered_by = fmt::format("ICMP {} unreachable from {}", what, flow.icmp_from.str());
  // The node's own error takes its source from the route back to the flow's source: that address, or
  // another of the node's.
  bool from_here = flow.icmp_from == flow.key.src || (flow.snat_ip && flow.icmp_from == *flow.snat_ip) ||
                   has(d.egress_addresses, flow.icmp_from);
  if (flow.icmp_from == backend)
    d.reason = fmt::format("{} itself answered ICMP {} unreachable", backend.str(), what);
  else if (from_here)
    d.reason = fmt::format("this node ({}) found no way to {} ({} unreachable{}): nothing answered its "
                           "neighbour resolution",
                           flow.icmp_from.str(), backend.str(), what, d.egress_dev.empty() ? "" : " on " + d.egress_dev);
  else
    d.reason = fmt::format("{} answered the {} with ICMP {} unreachable: a router on the way to {}:{} has no "
                           "route to it (check the routes of {})",
                           flow.icmp_from.str(), flow.key.proto == IPPROTO_TCP ? "SYN" : "packet", what,
                           backend.str(), flow.backend_port(), flow.icmp_from.str());
  return d;
}

// The backend answered with a reset or an ICMP error.
std::optional<Diagnosis> explain_refused(const Evidence& ev) {
  const Flow& flow = ev.flow;
  if (flow.state != FlowState::Refused) return std::nullopt;
  Diagnosis d = ev.seen;
  d.verdict = Verdict::Refused;
  if (flow.icmp_error) {
    d.answered_by = icmp_text(flow);
    d.reason = fmt::format("the backend {}:{} answered with an ICMP error ({}{}): nothing listens there, or it "
                           "is unreachable", flow.backend_ip().str(), flow.backend_port(), d.answered_by,
                           flow.icmp_type == 3 && flow.icmp_code == 3 ? ", port unreachable" : "");
  } else {
    d.answered_by = "rst";
    d.reason = fmt::format("the backend {}:{} answered with a reset: nothing listens there, or it refuses this "
                           "client", flow.backend_ip().str(), flow.backend_port());
  }
  return d;
}

// The reply came back and the kernel dropped it: the fix is the route when the wrong source is why it
// came back on that device, else, for rp_filter, loosening it there.
std::optional<Diagnosis> explain_reply_dropped(const Evidence& ev, RoutingView& routing,
                                               const std::vector<Cidr>& cidrs) {
  const Flow& flow = ev.flow;
  if (!flow.drops || !flow.reply_ns) return std::nullopt;
  const IpAddr backend = flow.backend_ip();
  Diagnosis d = ev.seen;
  d.verdict = Verdict::ReplyDropped;
  d.reason = fmt::format("the reply from {}:{} arrived on {} and the kernel dropped it ({})", backend.str(),
                         flow.backend_port(), d.drop_dev, d.drop_reason);
  if (d.drop_reason == "IP_RPFILTER")
    d.reason += fmt::format(": rp_filter on {} expects {} on another device", d.drop_dev, backend.str());
  if (ev.asymmetric) {
    uint32_t table = name_source_route(d, flow, routing);
    d.reason += fmt::format("; it came back there because source {} belongs to {}", ev.seen_source.str(),
                            d.drop_dev);
    if (chose_this_flow(d.source_route, flow)) {
      add_route_fix(d, ev, table, routing, cidrs);
    } else {  // as for asymmetric_source: a route that came since is neither blamed nor fixed
      d.reason += fmt::format("; the routing has changed since: the route for {} now is \"{}\"", flow.key.dst.str(),
                              format_route(*d.source_route));
      d.source_route.reset();
      d.source_rule.reset();
    }
  } else if (d.drop_reason == "IP_RPFILTER" && !d.drop_dev.empty()) {
    d.fix = sysctl_conf_command(d.drop_dev, "rp_filter", 2);
  }
  return d;
}

// The routing may have changed between the flow's first packet and now (someone applied the fix): the
// source a connection to the service IP gets now, when it is not the flow's and the egress device owns
// it; unset otherwise.
static IpAddr fixed_source_now(const Evidence& ev, RoutingView& routing) {
  const Diagnosis& seen = ev.seen;
  auto service_now = routing.route_get(ev.flow.key.dst, ev.vrf_ifindex);
  const IpAddr source_now = service_now ? service_now->prefsrc : IpAddr{};
  if (source_now.is_set() && source_now != ev.flow.key.src &&
      (source_now == seen.expected_source || has(seen.egress_addresses, source_now)))
    return source_now;
  return {};
}

// The incident: the source was chosen by the route to the service IP, and after DNAT the packet leaves
// a device that does not own it.
std::optional<Diagnosis> explain_asymmetric_source(const Evidence& ev, RoutingView& routing,
                                                   const std::vector<Cidr>& cidrs) {
  const Flow& flow = ev.flow;
  if (!ev.asymmetric) return std::nullopt;
  Diagnosis d = ev.seen;
  d.verdict = Verdict::AsymmetricSource;
  // Then the route that chose this source is no longer the one the service IP gets, and neither naming
  // today's route nor a fix would be right.
  if (const IpAddr now = fixed_source_now(ev, routing); now.is_set()) {
    d.reason = fmt::format(
        "source {} was chosen by the route to the service IP {} when the flow started, but after DNAT the "
        "packet left {}, whose address is {}; the routing has changed since: connections to {} now get "
        "source {}, so new ones should be answered",
        flow.key.src.str(), flow.key.dst.str(), d.egress_dev, now.str(), flow.key.dst.str(), now.str());
    return d;
  }
  uint32_t table = name_source_route(d, flow, routing);
  if (!chose_this_flow(d.source_route, flow)) {
    d.reason = fmt::format(
        "source {} was chosen by the route to the service IP {} when the flow started, but after DNAT the "
        "packet left {}, whose address is {}; the routing has changed since: the route for {} now is \"{}\", "
        "which did not make that choice",
        flow.key.src.str(), flow.key.dst.str(), d.egress_dev,
        d.expected_source.is_set() ? d.expected_source.str() : "different", flow.key.dst.str(),
        format_route(*d.source_route));
    d.source_route.reset();
    d.source_rule.reset();
    return d;
  }
  d.reason = fmt::format(
      "{}source {} was chosen by the route to the service IP {}, but after DNAT the packet leaves {}, "
      "whose address is {}; the backend cannot answer {}",
      d.vrf ? fmt::format("in VRF {} (table {}): ", d.vrf->name, table_name(d.vrf->table)) : "",
      ev.seen_source.str(), flow.key.dst.str(), d.egress_dev,
      d.expected_source.is_set() ? d.expected_source.str() : "different", ev.seen_source.str());
  if (d.vrf_table_missed && d.source_route)
    d.reason += fmt::format("; the VRF's table {} has no route for {}, so the lookup fell through to table {}",
                            table_name(d.vrf->table), flow.key.dst.str(), table_name(d.source_route->table));
  add_route_fix(d, ev, table, routing, cidrs);
  return d;
}

// No DNAT happened for a flow of this node's: the service's NAT rules are missing. Only said when
// conntrack's entry was read: a flow none of whose packets was seen after NAT may have been DNAT'd.
std::optional<Diagnosis> explain_not_dnatted(const Evidence& ev) {
  const Flow& flow = ev.flow;
  if (flow.dnat_ip || !flow.nat_seen || ev.seen.forwarded) return std::nullopt;
  Diagnosis d = ev.seen;
  d.verdict = Verdict::NotDnatted;
  d.reason = fmt::format("no DNAT happened for {}:{}: its packets went to the service IP itself{}; the service's "
                         "NAT rules (kube-proxy's) are missing in this namespace",
                         flow.key.dst.str(), flow.key.dport, d.egress_dev.empty() ? "" : ", out " + d.egress_dev);
  return d;
}

// No reply and no cause on this node: says which case it is, and what was ruled out.
Diagnosis explain_unanswered(const Evidence& ev) {
  const Flow& flow = ev.flow;
  const IpAddr backend = flow.backend_ip();
  Diagnosis d = ev.seen;
  d.verdict = Verdict::Unanswered;
  if (d.forwarded && !ev.source_on_egress && !flow.snat_ip)
    d.reason = fmt::format("forwarded from {} (in by {}) without SNAT: {} must route its reply to {} back "
                           "through this node, or the flow needs masquerading", ev.seen_source.str(), d.ingress_dev,
                           backend.str(), ev.seen_source.str());
  else if (!flow.dnat_ip)
    d.reason = fmt::format("no DNAT was seen for {}:{}: the service IP itself got no answer (are the "
                           "service's NAT rules in place?)", flow.key.dst.str(), flow.key.dport);
  else
    d.reason = fmt::format("{}:{} did not answer (backend down, or filtered on the way); ruled out: the source "
                           "({} belongs to {}), the NAT (DNAT to {} happened), drops on this node ({}), ICMP errors "
                           "(none came back)",
                           backend.str(), flow.backend_port(), ev.seen_source.str(),
                           d.egress_dev.empty() ? "the egress device" : d.egress_dev, backend.str(),
                           flow.drops ? fmt::format("{} seen, but no reply to drop", flow.drops) : "none seen");
  return d;
}

}  // namespace svctrace
