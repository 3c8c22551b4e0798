#include "diagnose/diagnosis.h"

#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace svctrace {

Cidr covering_cidr(const std::vector<Cidr>& cidrs, const IpAddr& ip) {
  for (const auto& c : cidrs)
    if (c.contains(ip)) return c;
  return Cidr{ip, static_cast<uint8_t>(ip.size() * 8)};
}

// The route to add so that connect() picks `source` for the service CIDR: the same path the
// backend's route takes, with the source pinned, in the table that currently decides. Sets d.fix
// (`replace` when that table already has a route for the prefix) and d.fix_route.
static void synthesize_fix(Diagnosis& d, const Cidr& cidr, const Route& to_backend, uint32_t table,
                           RoutingView& routing) {
  Route fix;
  fix.dst = cidr.addr;
  fix.dst_len = cidr.prefix_len;
  fix.gateway = to_backend.gateway;
  fix.oif = to_backend.oif;
  fix.dev = to_backend.dev;
  fix.prefsrc = d.expected_source;
  fix.table = table;
  d.fix = route_fix_command(fix, routing);
  d.fix_route = fix;
}

std::string route_fix_command(const Route& fix, RoutingView& routing) {
  bool exists = false;
  for (const auto& r : routing.routes(fix.table))
    if (r.dst_len == fix.dst_len && (r.dst.is_set() ? r.dst == fix.dst : fix.dst.is_zero())) exists = true;
  std::string cmd = fmt::format("ip route {} {}/{}", exists ? "replace" : "add", fix.dst.str(), fix.dst_len);
  if (fix.gateway.is_set()) cmd += " via " + fix.gateway.str();
  cmd += " dev " + fix.dev;
  if (fix.prefsrc.is_set()) cmd += " src " + fix.prefsrc.str();
  if (fix.table != kTableMain) cmd += " table " + table_name(fix.table);
  return cmd;
}

// "net", "host", ... for an ICMP error that says the sender has no route to the destination (not
// that the destination refused it); nullptr for any other.
static const char* no_route_icmp(const Flow& flow) {
  if (flow.key.dst.family == AF_INET6) {
    if (flow.icmp_type != 1) return nullptr;  // ICMPV6_DEST_UNREACH
    return flow.icmp_code == 0 ? "no-route" : flow.icmp_code == 3 ? "address" : nullptr;
  }
  if (flow.icmp_type != 3) return nullptr;  // ICMP_DEST_UNREACH
  switch (flow.icmp_code) {
    case 0: case 6: return "net";   // ICMP_NET_UNREACH, ICMP_NET_UNKNOWN
    case 1: case 7: return "host";  // ICMP_HOST_UNREACH, ICMP_HOST_UNKNOWN
    default: return nullptr;
  }
}

static std::string reason_name(const DropReasonNames& names, uint32_t reason) {
  auto it = names.find(reason);
  return it != names.end() ? it->second : fmt::format("reason {}", reason);
}

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

std::optional<Vrf> flow_vrf(const Flow& flow, RoutingView& routing) {
  if (flow.forwarded()) return std::nullopt;
  std::vector<Vrf> vrfs = routing.vrfs();
  if (vrfs.empty()) return std::nullopt;
  if (flow.route)
    for (const auto& v : vrfs)
      if (v.table == flow.route->table) return v;
  // The lookup fell through the VRF's table (to main, say): the route hook saw main. After DNAT the
  // kernel routes the packet again, in the socket's VRF; a device of the VRF that a lookup outside
  // it does not lead to says the socket is in that VRF.
  if (!flow.egress_ifindex || !flow.dnat_ip) return std::nullopt;
  for (const auto& v : vrfs) {
    bool member = flow.egress_ifindex == v.ifindex ||
                  std::find(v.members.begin(), v.members.end(), flow.egress_ifindex) != v.members.end();
    if (!member) continue;
    std::optional<Route> outside = routing.route_get(*flow.dnat_ip, 0);
    if (outside && outside->oif == flow.egress_ifindex) return std::nullopt;  // a route leaks there: can't tell
    return v;
  }
  return std::nullopt;
}

// Names the route that chose the flow's source and the rule that selected its table (d.source_route,
// d.source_rule, d.vrf_table_missed); returns the table a fix belongs in: that table, or the VRF's
// when the lookup fell through it.
static uint32_t name_source_route(Diagnosis& d, const Flow& flow, RoutingView& routing) {
  const int vrf = d.vrf ? d.vrf->ifindex : 0;
  d.source_route = routing.fib_match(flow.key.dst, vrf);
  uint32_t table = d.source_route ? d.source_route->table : (flow.route ? flow.route->table : kTableMain);
  Selection sel = selecting_rule(routing, flow, table, d.vrf);
  d.source_rule = sel.rule;
  d.vrf_table_missed = d.vrf && sel.missed && !sel.rule && default_table(table);
  return d.vrf_table_missed ? d.vrf->table : table;
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

// On a backend: the flow's SYNs came in and the kernel found no route for the answer. Follows the
// rules a lookup from the local address to the client goes through, as the kernel's did, to name the
// tables that have no route back (or the route that has appeared since).
static void explain_no_route_back(Diagnosis& d, const Flow& flow, RoutingView& routing) {
  constexpr uint8_t kToTable = 1, kBlackhole = 6, kUnreachable = 7, kProhibit = 8;  // FR_ACT_*
  constexpr uint8_t kRtnUnicast = 1, kRtnLocal = 2, kRtnThrow = 9;
  const IpAddr& client = flow.key.src;
  const IpAddr& local = flow.key.dst;
  d.verdict = Verdict::NoRouteBack;
  d.arrival_dev = routing.interface_name(flow.arrival_ifindex);
  d.missed_table = flow.reply_route_missed_table;
  d.check = fmt::format("ip route get {} from {}", client.str(), local.str());
  std::string ends;  // what ended the lookup without a route, when a rule or route says no outright
  for (const Rule& r : routing.rules(client.family)) {
    if (!r.matches(local, client, std::nullopt)) continue;
    if (r.action == kBlackhole || r.action == kUnreachable || r.action == kProhibit) {
      ends = fmt::format("rule \"{}\" refuses it", format_rule(r));
      break;
    }
    if (r.action != kToTable) continue;
    d.tables_tried.push_back(table_name(r.table));
    auto route = covering_route(routing, r.table, client);
    if (!route) continue;
    if (route->type == kRtnThrow) continue;  // the kernel goes on to the next rule
    if (route->type == kRtnUnicast || route->type == kRtnLocal) {
      d.route_back_now = route;
    } else {
      ends = fmt::format("route \"{}\" refuses it", format_route(*route));
    }
    break;
  }
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
    return;
  }
  d.reason = fmt::format(
      "{}, but {}, so no SYN-ACK was sent; {}. Either the client chose a source this host cannot reach (on the "
      "client node, svctrace names the route that chose it), or this host lacks a route to {}",
      came, missed,
      !ends.empty() ? ends
                    : fmt::format("none of the tables the rules send it to ({}) covers {}",
                                  fmt::join(d.tables_tried, ", "), client.str()),
      client.str());
}

Diagnosis diagnose(const Flow& flow, RoutingView& routing, const std::vector<Cidr>& cidrs,
                   const DropReasonNames& drop_reasons) {
  Diagnosis d;
  d.flow = flow.key;
  d.dnat_ip = flow.dnat_ip;
  d.dnat_port = flow.dnat_port;
  d.syns = flow.syns();
  d.retransmits = flow.retransmits;
  d.waited_ns = flow.decided_ns > flow.first_seen_ns ? flow.decided_ns - flow.first_seen_ns : 0;
  d.route_seen = flow.route;
  d.pid = flow.pid;
  d.comm = flow.comm;
  d.container = flow.container;
  if (flow.route) d.route_seen_dev = routing.interface_name(flow.route->oif);
  if (flow.route_ifindex) d.route_dev = routing.interface_name(flow.route_ifindex);
  d.forwarded = flow.forwarded();
  if (d.forwarded) d.ingress_dev = routing.interface_name(flow.ingress_ifindex);
  if (flow.reply_ns) d.reply_dev = routing.interface_name(flow.reply_ifindex);
  d.drops = flow.drops;
  if (flow.drops) {
    d.drop_reason = reason_name(drop_reasons, flow.drop_reason);
    d.drop_dev = routing.interface_name(flow.drop_ifindex);
  }

  if (flow.inbound) {
    explain_no_route_back(d, flow, routing);
    return d;
  }

  const IpAddr backend = flow.backend_ip();
  d.vrf = flow_vrf(flow, routing);
  const int vrf = d.vrf ? d.vrf->ifindex : 0;
  auto to_backend = routing.route_get(backend, vrf);
  int egress = flow.egress_ifindex ? flow.egress_ifindex : (to_backend ? to_backend->oif : 0);
  // The VRF driver runs netfilter's output hooks on the VRF device before the real one: that is not
  // where the packet left.
  if (d.vrf && egress == d.vrf->ifindex && to_backend) egress = to_backend->oif;
  if (egress) {
    d.egress_dev = routing.interface_name(egress);
    for (const auto& a : routing.addresses(egress)) d.egress_addresses.push_back(a.addr);
  }
  if (to_backend) d.expected_source = to_backend->prefsrc;

  const char* no_route_from = flow.icmp_error ? no_route_icmp(flow) : nullptr;
  if (flow.state == FlowState::Refused && !flow.dnat_ip && !flow.forwarded() && !no_route_from) {
    // A virtual service IP refused without being DNAT'd: a REJECT rule said no, as kube-proxy's does for a
    // service with no ready endpoints.
    d.verdict = Verdict::NoEndpoints;
    d.answered_by = flow.icmp_error ? fmt::format("icmp type {} code {}", flow.icmp_type, flow.icmp_code)
                                    : (flow.sk_err ? "local error" : "rst");
    d.reason = fmt::format("{}:{} was not DNAT'd and was refused at once: a REJECT rule answered, as kube-proxy's "
                           "does for a service with no ready endpoints (check the Service's endpoints)",
                           flow.key.dst.str(), flow.key.dport);
    if (flow.drops) d.answered_by = "local reject (" + d.drop_reason + ")";
    return d;
  }
  // A reply came, and conntrack found it fit no state of the flow: it had no entry when it was dropped.
  if (flow.reply_invalid) {
    d.verdict = Verdict::ReplyInvalid;
    d.reply_dev = d.drop_dev;
    d.reason = fmt::format("a reply from {}:{} arrived on {} and conntrack found it INVALID (it fits no state of the "
                           "flow: a sequence number out of the window, impossible TCP flags, or a middlebox "
                           "rewriting them), and the kernel dropped it ({}): `conntrack -S` counts it under "
                           "invalid",
                           backend.str(), flow.backend_port(), d.drop_dev.empty() ? "this node" : d.drop_dev,
                           d.drop_reason);
    return d;
  }
  // Dropped by this node before it left, with no answer from anywhere: a filter rule, most likely.
  bool dropped_here = flow.drops && !flow.reply_ns && !flow.icmp_error;
  if (dropped_here && (flow.state == FlowState::Refused || flow.state == FlowState::Unanswered)) {
    d.verdict = Verdict::DroppedHere;
    d.reason = fmt::format("this node dropped the flow's packets before they reached {}:{} ({}{}): a "
                           "firewall rule, most likely", backend.str(), flow.backend_port(), d.drop_reason,
                           d.drop_dev.empty() ? "" : " on " + d.drop_dev);
    return d;
  }
  if (flow.state == FlowState::Refused) {
    d.verdict = Verdict::Refused;
    if (const char* what = no_route_from) {
      // Not the backend saying no: someone on the way (a router, or this node) has no way to it.
      d.verdict = Verdict::Unreachable;
      d.answered_by = fmt::format("ICMP {} unreachable from {}", what, flow.icmp_from.str());
      // The node's own error takes its source from the route back to the flow's source: that address,
      // or another of the node's.
      bool from_here = flow.icmp_from == flow.key.src || (flow.snat_ip && flow.icmp_from == *flow.snat_ip) ||
                       std::find(d.egress_addresses.begin(), d.egress_addresses.end(), flow.icmp_from) !=
                           d.egress_addresses.end();
      if (flow.icmp_from == backend)
        d.reason = fmt::format("{} itself answered ICMP {} unreachable", backend.str(), what);
      else if (from_here)
        d.reason = fmt::format("this node ({}) found no way to {} ({} unreachable{}): nothing answered its "
                               "neighbour resolution",
                               flow.icmp_from.str(), backend.str(), what,
                               d.egress_dev.empty() ? "" : " on " + d.egress_dev);
      else
        d.reason = fmt::format("{} answered the {} with ICMP {} unreachable: a router on the way to {}:{} has no "
                               "route to it (check the routes of {})",
                               flow.icmp_from.str(), flow.key.proto == IPPROTO_TCP ? "SYN" : "packet", what,
                               backend.str(), flow.backend_port(), flow.icmp_from.str());
    } else if (flow.icmp_error) {
      d.answered_by = fmt::format("icmp type {} code {}", flow.icmp_type, flow.icmp_code);
      d.reason = fmt::format("the backend {}:{} answered with an ICMP error ({}{}): nothing listens there, or it "
                             "is unreachable", backend.str(), flow.backend_port(), d.answered_by,
                             flow.icmp_type == 3 && flow.icmp_code == 3 ? ", port unreachable" : "");
    } else {
      d.answered_by = "rst";
      d.reason = fmt::format("the backend {}:{} answered with a reset: nothing listens there, or it refuses this "
                             "client", backend.str(), flow.backend_port());
    }
    return d;
  }

  // The source the backend sees: SNAT (masquerade) rewrites the one connect() chose.
  const IpAddr seen_source = flow.snat_ip.value_or(flow.key.src);
  bool source_on_egress = std::find(d.egress_addresses.begin(), d.egress_addresses.end(), seen_source) !=
                          d.egress_addresses.end();
  bool source_expected = d.expected_source.is_set() && seen_source == d.expected_source;

  // A forwarded flow's source was chosen by the pod, not by this node's routes.
  bool asymmetric = !d.forwarded && flow.dnat_ip && egress && !source_on_egress && !source_expected;
  bool reply_dropped = flow.drops && flow.reply_ns;

  if (reply_dropped) {
    d.verdict = Verdict::ReplyDropped;
    d.reason = fmt::format("the reply from {}:{} arrived on {} and the kernel dropped it ({})", backend.str(),
                           flow.backend_port(), d.drop_dev, d.drop_reason);
    if (d.drop_reason == "IP_RPFILTER")
      d.reason += fmt::format(": rp_filter on {} expects {} on another device", d.drop_dev, backend.str());
    if (asymmetric) {
      uint32_t table = name_source_route(d, flow, routing);
      d.reason += fmt::format("; it came back there because source {} belongs to {}", seen_source.str(),
                              d.drop_dev);
      if (to_backend && !to_backend->dev.empty())
        synthesize_fix(d, covering_cidr(cidrs, flow.key.dst), *to_backend, table, routing);
    } else if (d.drop_reason == "IP_RPFILTER" && !d.drop_dev.empty()) {
      d.fix = fmt::format("sysctl -w net.ipv4.conf.{}.rp_filter=2", d.drop_dev);
    }
    return d;
  }

  if (asymmetric) {
    d.verdict = Verdict::AsymmetricSource;
    // The routing may have changed between the flow's first packet and now (someone applied the fix):
    // then the route that chose this source is no longer the one the service IP gets, and neither
    // naming today's route nor a fix would be right.
    auto service_now = routing.route_get(flow.key.dst, vrf);
    const IpAddr source_now = service_now ? service_now->prefsrc : IpAddr{};
    if (source_now.is_set() && source_now != flow.key.src &&
        (source_now == d.expected_source ||
         std::find(d.egress_addresses.begin(), d.egress_addresses.end(), source_now) != d.egress_addresses.end())) {
      d.reason = fmt::format(
          "source {} was chosen by the route to the service IP {} when the flow started, but after DNAT the "
          "packet left {}, whose address is {}; the routing has changed since: connections to {} now get "
          "source {}, so new ones should be answered",
          flow.key.src.str(), flow.key.dst.str(), d.egress_dev, source_now.str(), flow.key.dst.str(),
          source_now.str());
      return d;
    }
    uint32_t table = name_source_route(d, flow, routing);
    d.reason = fmt::format(
        "{}source {} was chosen by the route to the service IP {}, but after DNAT the packet leaves {}, "
        "whose address is {}; the backend cannot answer {}",
        d.vrf ? fmt::format("in VRF {} (table {}): ", d.vrf->name, table_name(d.vrf->table)) : "", seen_source.str(),
        flow.key.dst.str(), d.egress_dev, d.expected_source.is_set() ? d.expected_source.str() : "different",
        seen_source.str());
    if (d.vrf_table_missed && d.source_route)
      d.reason += fmt::format("; the VRF's table {} has no route for {}, so the lookup fell through to table {}",
                              table_name(d.vrf->table), flow.key.dst.str(), table_name(d.source_route->table));
    if (to_backend && !to_backend->dev.empty())
      synthesize_fix(d, covering_cidr(cidrs, flow.key.dst), *to_backend, table, routing);
    return d;
  }

  d.verdict = Verdict::Unanswered;
  if (!flow.dnat_ip && !d.forwarded) {
    d.verdict = Verdict::NotDnatted;
    d.reason = fmt::format("no DNAT happened for {}:{}: its packets went to the service IP itself{}; the service's "
                           "NAT rules (kube-proxy's) are missing in this namespace",
                           flow.key.dst.str(), flow.key.dport, d.egress_dev.empty() ? "" : ", out " + d.egress_dev);
    return d;
  }
  if (d.forwarded && !source_on_egress && !flow.snat_ip)
    d.reason = fmt::format("forwarded from {} (in by {}) without SNAT: {} must route its reply to {} back "
                           "through this node, or the flow needs masquerading", seen_source.str(), d.ingress_dev,
                           backend.str(), seen_source.str());
  else if (!flow.dnat_ip)
    d.reason = fmt::format("no DNAT was seen for {}:{}: the service IP itself got no answer (are the "
                           "service's NAT rules in place?)", flow.key.dst.str(), flow.key.dport);
  else
    d.reason = fmt::format("{}:{} did not answer (backend down, or filtered on the way); ruled out: the source "
                           "({} belongs to {}), the NAT (DNAT to {} happened), drops on this node ({}), ICMP errors "
                           "(none came back)",
                           backend.str(), flow.backend_port(), seen_source.str(),
                           d.egress_dev.empty() ? "the egress device" : d.egress_dev, backend.str(),
                           flow.drops ? fmt::format("{} seen, but no reply to drop", flow.drops) : "none seen");
  return d;
}

}  // namespace svctrace
