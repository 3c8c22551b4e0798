#include "diagnose/diagnosis.h"

#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "diagnose/explain.h"

namespace svctrace {

Cidr covering_cidr(const std::vector<Cidr>& cidrs, const IpAddr& ip) {
  for (const auto& c : cidrs)
    if (c.contains(ip)) return c;
  return Cidr{ip, static_cast<uint8_t>(ip.size() * 8)};
}

std::string route_fix_command(const Route& fix, RoutingView& routing) {
  bool exists = false;
  for (const auto& r : routing.routes(fix.table))
    if (r.dst_len == fix.dst_len && (r.dst.is_set() ? r.dst == fix.dst : fix.dst.is_zero())) exists = true;
  return fmt::format("ip route {} {}", exists ? "replace" : "add", ip_route_args(fix));
}

std::string ip_route_args(const Route& fix) {
  std::string args = fmt::format("{}/{}", fix.dst.str(), fix.dst_len);
  if (fix.gateway.is_set()) args += " via " + fix.gateway.str();
  args += " dev " + shell_word(fix.dev);
  if (fix.prefsrc.is_set()) args += " src " + fix.prefsrc.str();
  if (fix.table != kTableMain) args += " table " + shell_word(table_name(fix.table));
  return args;
}

bool plain_word(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || std::strchr("_-.@+=,%/:", c);
  });
}

std::string shell_word(const std::string& s) {
  if (plain_word(s)) return s;
  std::string quoted = "'";
  for (char c : s) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string sysctl_conf_command(const std::string& dev, const std::string& key, int value) {
  std::string dev_key = dev;
  std::replace(dev_key.begin(), dev_key.end(), '.', '/');
  return "sysctl -w " + shell_word(fmt::format("net.ipv4.conf.{}.{}={}", dev_key, key, value));
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
  // A kernel before 5.17 has no enum skb_drop_reason in its BTF, and its kfree_skb gives none.
  if (names.empty()) return "unknown (no drop reasons before Linux 5.17)";
  auto it = names.find(reason);
  return it != names.end() ? it->second : fmt::format("reason {}", reason);
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

// What every diagnosis of the flow says, whatever its verdict.
static Diagnosis seen_of(const Flow& flow, RoutingView& routing, const DropReasonNames& drop_reasons) {
  Diagnosis d;
  d.flow = flow.key;
  d.dnat_ip = flow.dnat_ip;
  d.dnat_port = flow.dnat_port;
  d.syns = flow.syns();
  d.retransmits = flow.retransmits;
  d.waited_ns = flow.decided_ns > flow.first_seen_ns ? flow.decided_ns - flow.first_seen_ns : 0;
  d.preexisting = flow.preexisting;
  d.route_seen = flow.route;
  d.pid = flow.pid;
  d.comm = flow.comm;
  d.container = flow.container;
  d.service = flow.service;
  d.pod = flow.pod;
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
  return d;
}

Evidence gather_evidence(const Flow& flow, RoutingView& routing, const DropReasonNames& drop_reasons) {
  Evidence ev{flow, seen_of(flow, routing, drop_reasons)};
  if (flow.inbound) return ev;  // on a backend: its route back is all explain_no_route_back looks up
  Diagnosis& d = ev.seen;
  d.vrf = flow_vrf(flow, routing);
  ev.vrf_ifindex = d.vrf ? d.vrf->ifindex : 0;
  ev.to_backend = routing.route_get(flow.backend_ip(), ev.vrf_ifindex);
  ev.egress = flow.egress_ifindex ? flow.egress_ifindex : (ev.to_backend ? ev.to_backend->oif : 0);
  // The VRF driver runs netfilter's output hooks on the VRF device before the real one: that is not
  // where the packet left.
  if (d.vrf && ev.egress == d.vrf->ifindex && ev.to_backend) ev.egress = ev.to_backend->oif;
  if (ev.egress) {
    d.egress_dev = routing.interface_name(ev.egress);
    for (const auto& a : routing.addresses(ev.egress)) d.egress_addresses.push_back(a.addr);
  }
  if (ev.to_backend) d.expected_source = ev.to_backend->prefsrc;
  ev.no_route_from = flow.icmp_error ? no_route_icmp(flow) : nullptr;
  // The source the backend sees: SNAT (masquerade) rewrites the one connect() chose.
  ev.seen_source = flow.snat_ip.value_or(flow.key.src);
  ev.source_on_egress = std::find(d.egress_addresses.begin(), d.egress_addresses.end(), ev.seen_source) !=
                        d.egress_addresses.end();
  bool source_expected = d.expected_source.is_set() && ev.seen_source == d.expected_source;
  ev.asymmetric = !d.forwarded && flow.dnat_ip && ev.egress && !ev.source_on_egress && !source_expected;
  return ev;
}

Diagnosis diagnose(const Flow& flow, RoutingView& routing, const std::vector<Cidr>& cidrs,
                   const DropReasonNames& drop_reasons) {
  const Evidence ev = gather_evidence(flow, routing, drop_reasons);
  // In docs/verdicts.md's order of precedence: the first that explains the flow decides.
  if (auto d = explain_no_route_back(ev, routing)) return std::move(*d);
  if (auto d = explain_no_endpoints(ev)) return std::move(*d);
  if (auto d = explain_reply_invalid(ev)) return std::move(*d);
  if (auto d = explain_dropped_here(ev)) return std::move(*d);
  if (auto d = explain_unreachable(ev)) return std::move(*d);
  if (auto d = explain_refused(ev)) return std::move(*d);
  if (auto d = explain_reply_dropped(ev, routing, cidrs)) return std::move(*d);
  if (auto d = explain_asymmetric_source(ev, routing, cidrs)) return std::move(*d);
  if (auto d = explain_not_dnatted(ev)) return std::move(*d);
  return explain_unanswered(ev);
}

}  // namespace svctrace
