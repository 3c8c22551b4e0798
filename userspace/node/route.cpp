// Prints routes the way iproute2's print_route() does, field by field in its order, so that what
// svctrace names can be pasted into `ip route del` or compared with `ip route` output.
#include <fmt/format.h>

#include <algorithm>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include "node/route.h"

namespace svctrace {

std::string_view name(RoutingChangeKind k) {
  switch (k) {
    case RoutingChangeKind::Route: return "route";
    case RoutingChangeKind::Rule: return "rule";
    case RoutingChangeKind::Address: return "address";
  }
  return {};  // a value that is no member
}

std::optional<RoutingChangeKind> parse_routing_change_kind(std::string_view s) {
  // The members are numbered from 0 without gaps: the first value name() does not know ends them.
  for (int i = 0; !name(static_cast<RoutingChangeKind>(i)).empty(); ++i)
    if (s == name(static_cast<RoutingChangeKind>(i))) return static_cast<RoutingChangeKind>(i);
  return std::nullopt;
}

std::string table_name(uint32_t table) {
  switch (table) {
    case kTableMain: return "main";
    case kTableLocal: return "local";
    case kTableDefault: return "default";
    default: return std::to_string(table);
  }
}

static const char* type_name(uint8_t type) {
  switch (type) {
    case RTN_LOCAL: return "local";
    case RTN_BROADCAST: return "broadcast";
    case RTN_ANYCAST: return "anycast";
    case RTN_MULTICAST: return "multicast";
    case RTN_BLACKHOLE: return "blackhole";
    case RTN_UNREACHABLE: return "unreachable";
    case RTN_PROHIBIT: return "prohibit";
    case RTN_THROW: return "throw";
    case RTN_NAT: return "nat";
    default: return nullptr;
  }
}

static std::string protocol_name(uint8_t proto) {
  switch (proto) {
    case RTPROT_KERNEL: return "kernel";
    case RTPROT_REDIRECT: return "redirect";
    case RTPROT_STATIC: return "static";
    case RTPROT_RA: return "ra";
    case RTPROT_DHCP: return "dhcp";
    case 186: return "bgp";
    case 188: return "ospf";
    case 196: return "keepalived";
    default: return std::to_string(proto);
  }
}

static std::string scope_name(uint8_t scope) {
  switch (scope) {
    case RT_SCOPE_UNIVERSE: return "global";
    case RT_SCOPE_SITE: return "site";
    case RT_SCOPE_LINK: return "link";
    case RT_SCOPE_HOST: return "host";
    case RT_SCOPE_NOWHERE: return "nowhere";
    default: return std::to_string(scope);
  }
}

bool Rule::selects(const IpAddr& src, const IpAddr& dst, std::optional<uint32_t> mark, uint32_t vrf_table) const {
  return action == FR_ACT_TO_TBL && matches(src, dst, mark, vrf_table);
}

bool Rule::matches(const IpAddr& src, const IpAddr& dst, std::optional<uint32_t> mark, uint32_t vrf_table) const {
  if (l3mdev && !vrf_table) return false;  // the kernel's l3mdev_fib_rule_match(): no VRF, no match
  if (to && !to->contains(dst)) return false;
  if (from && !from->contains(src)) return false;
  if (fwmark && (!mark || *mark != *fwmark)) return false;
  return iif.empty() || iif == "lo";  // a locally generated lookup has iif lo
}

// In iproute2's order: selectors, then what the rule looks up, then an action other than a lookup.
std::string format_rule(const Rule& r) {
  std::string s = fmt::format("{}:\tfrom {}", r.priority, r.from ? r.from->str() : "all");
  if (r.to) s += " to " + r.to->str();
  if (r.fwmark) s += fmt::format(" fwmark {:#x}", *r.fwmark);
  if (!r.iif.empty()) s += " iif " + r.iif;
  if (r.l3mdev) s += " lookup [l3mdev-table]";
  if (r.table) s += " lookup " + table_name(r.table);
  switch (r.action) {
    case FR_ACT_TO_TBL: break;
    case FR_ACT_GOTO: s += r.goto_target ? fmt::format(" goto {}", r.goto_target) : " goto none"; break;
    case FR_ACT_NOP: s += " nop"; break;
    default: {
      const char* t = type_name(r.action);  // FR_ACT_BLACKHOLE.. share the RTN_* numbers, as `ip rule` prints them
      s += " " + (t ? std::string(t) : std::to_string(r.action));
    }
  }
  return s;
}

uint8_t RoutingChange::family() const {
  if (covers) return covers->addr.family;
  if (kind != RoutingChangeKind::Address) return 0;
  const std::string_view first = std::string_view(what).substr(0, what.find_first_of("/ "));
  const std::optional<IpAddr> addr = IpAddr::parse(first);
  return addr ? addr->family : 0;
}

bool RoutingChange::concerns(const std::vector<IpAddr>& ips, const std::vector<std::string>& devs) const {
  if (ips.empty()) return false;
  const uint8_t own = family();
  if (own && own != ips.front().family) return false;
  const bool covers_one = covers && std::any_of(ips.begin(), ips.end(), [this](const IpAddr& ip) {
                            return ip.is_set() && covers->contains(ip);
                          });
  const bool on_a_dev = !dev.empty() && std::find(devs.begin(), devs.end(), dev) != devs.end();
  switch (kind) {
    case RoutingChangeKind::Route:
    case RoutingChangeKind::Rule: return covers_one;
    case RoutingChangeKind::Address: return covers_one || (own != 0 && on_a_dev);
  }
  return false;
}

std::string format_route(const Route& r) {
  std::string out;
  auto add = [&out](const std::string& word) {
    if (!out.empty()) out += ' ';
    out += word;
  };
  if (r.type != RTN_UNICAST) {
    const char* t = type_name(r.type);
    add(t ? t : std::to_string(r.type));
  }
  if (!r.dst.is_set() && r.dst_len == 0)
    add("default");
  else if (r.dst_len == r.dst.size() * 8)
    add(r.dst.str());
  else
    add(fmt::format("{}/{}", r.dst.is_set() ? r.dst.str() : "0", r.dst_len));
  if (r.gateway.is_set()) add("via " + r.gateway.str());
  if (!r.dev.empty()) add("dev " + r.dev);
  if (r.table != kTableMain) add("table " + table_name(r.table));
  if (r.protocol != RTPROT_BOOT) add("proto " + protocol_name(r.protocol));
  if (r.scope != RT_SCOPE_UNIVERSE) add("scope " + scope_name(r.scope));
  if (r.prefsrc.is_set()) add("src " + r.prefsrc.str());
  if (r.metric) add(fmt::format("metric {}", *r.metric));
  if (r.flags & RTNH_F_ONLINK) add("onlink");
  if (r.flags & RTNH_F_LINKDOWN) add("linkdown");
  if (r.pref) add(fmt::format("pref {}", *r.pref == 0 ? "medium" : *r.pref == 1 ? "high" : *r.pref == 3 ? "low" : "?"));
  // Multipath: one "nexthop" line per path, tab-indented, as `ip route` prints them.
  for (const auto& nh : r.nexthops) {
    out += "\n\tnexthop";
    if (nh.gateway.is_set()) out += " via " + nh.gateway.str();
    if (!nh.dev.empty()) out += " dev " + nh.dev;
    out += fmt::format(" weight {}", nh.weight);
    if (nh.flags & RTNH_F_ONLINK) out += " onlink";
    if (nh.flags & RTNH_F_LINKDOWN) out += " linkdown";
  }
  return out;
}

}  // namespace svctrace
