// What svctrace knows about a route, how it prints one (exactly as `ip route` does), and the
// interface through which the diagnosis asks the kernel about routes (netlink in production,
// a fake in unit tests).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "correlate/address.h"

namespace svctrace {

constexpr uint32_t kTableMain = 254;
constexpr uint32_t kTableLocal = 255;
constexpr uint32_t kTableDefault = 253;

struct Nexthop {
  IpAddr gateway;
  int oif = 0;
  std::string dev;
  unsigned weight = 1;
  uint32_t flags = 0;  // RTNH_F_*
};

struct Route {
  uint8_t type = 1;        // RTN_UNICAST
  IpAddr dst;              // unset for "default"
  uint8_t dst_len = 0;
  IpAddr gateway;
  int oif = 0;
  std::string dev;         // name of oif, resolved in the traced namespace
  uint32_t table = kTableMain;
  uint8_t protocol = 3;    // RTPROT_BOOT, which `ip route` does not print
  uint8_t scope = 0;       // RT_SCOPE_UNIVERSE
  IpAddr prefsrc;          // "src" of the route, or the source the kernel selected (route get)
  std::optional<uint32_t> metric;
  std::optional<uint8_t> pref;  // IPv6 router preference (RTA_PREF): ICMPV6_ROUTER_PREF_*
  uint32_t flags = 0;      // RTNH_F_* / RTM_F_* as `ip route` prints them (onlink, linkdown)
  std::vector<Nexthop> nexthops;  // a multipath route's paths (then gateway and dev are unset)
};

// A policy routing rule. svctrace follows the ones that look a table up (FR_ACT_TO_TBL); it prints all.
struct Rule {
  uint32_t priority = 0;
  std::optional<Cidr> from, to;  // unset: "all"
  std::string iif;
  std::optional<uint32_t> fwmark;
  uint32_t table = kTableMain;   // 0 for an l3mdev rule
  // "lookup [l3mdev-table]" (FRA_L3MDEV): the table of the VRF whose device the lookup is bound to, or
  // arrived on; the kernel adds this rule (priority 1000) with the first VRF device.
  bool l3mdev = false;
  uint8_t action = 1;  // FR_ACT_TO_TBL; FR_ACT_GOTO, NOP, BLACKHOLE, UNREACHABLE, PROHIBIT
  uint32_t goto_target = 0;  // FRA_GOTO, for FR_ACT_GOTO

  // Would a lookup for (src -> dst, with mark, from a local socket) be sent to this rule's table?
  // vrf_table: the table of the VRF the lookup is made in (a socket bound to a VRF device), 0 if none;
  // an l3mdev rule selects only such a lookup.
  bool selects(const IpAddr& src, const IpAddr& dst, std::optional<uint32_t> mark, uint32_t vrf_table = 0) const;
  // Does the lookup match the rule's selectors, whatever its action (a table, or unreachable...)?
  bool matches(const IpAddr& src, const IpAddr& dst, std::optional<uint32_t> mark, uint32_t vrf_table = 0) const;
  // The table the rule sends a lookup made in the VRF with table vrf_table (0: none) to.
  uint32_t table_for(uint32_t vrf_table) const { return l3mdev ? vrf_table : table; }
};

// `ip rule` syntax: "1000:\tfrom all to 10.96.0.0/12 lookup 200", "1000:\tfrom all lookup [l3mdev-table]".
std::string format_rule(const Rule& r);

// A VRF: an l3mdev device (`ip link add vrf-blue type vrf table 10`) and the devices enslaved to it
// (`ip link set enslf0 master vrf-blue`), whose routes live in its table.
struct Vrf {
  int ifindex = 0;
  std::string name;
  uint32_t table = 0;
  std::vector<int> members;  // ifindexes of the enslaved devices
};

// `ip route` syntax: "default via 10.141.13.1 dev enslf1", "10.0.0.0/24 dev enslf0 proto kernel
// scope link src 10.0.0.12", with "table N" when the table is not main.
std::string format_route(const Route& r);
std::string table_name(uint32_t table);

// What a routing change is to: a switch over it has no `default:`, so -Wswitch names every place a new
// kind must be handled.
enum class RoutingChangeKind { Route, Rule, Address };

// "route", "rule", "address", as in JSON, recordings and the timeline; "" for a value that is no member.
std::string_view name(RoutingChangeKind k);
// The kind name(k) spells s, or nullopt for any other string.
std::optional<RoutingChangeKind> parse_routing_change_kind(std::string_view s);

// A change to the namespace's routing, as `ip monitor` would show it.
struct RoutingChange {
  uint64_t ts_ns = 0;     // CLOCK_MONOTONIC, as BPF timestamps
  RoutingChangeKind kind = RoutingChangeKind::Route;
  bool deleted = false;
  std::string what;       // the route/rule/address in `ip` syntax
  // The destinations it is about: a route's prefix, a rule's "to" (all of its family when it has
  // none), an address itself (/32 or /128).
  std::optional<Cidr> covers;
  std::string dev;             // the device it is about, if any

  // AF_INET or AF_INET6; 0 when unknown (an address change recorded before covers was set for one, and
  // whose `what` does not start with the address).
  uint8_t family() const;
  // Could this change have altered the route decision of a flow that asked about `ips` (its service IP,
  // backend and source, all of one family) and went by `devs`? Only a change of the flow's family: a
  // route whose prefix covers one of `ips`, a rule whose "to" does, or an address on one of `devs` (or
  // one of `ips` itself). An IPv6 link-local address appearing on a new veth says nothing of an IPv4
  // flow.
  bool concerns(const std::vector<IpAddr>& ips, const std::vector<std::string>& devs) const;
};

struct InterfaceAddress {
  IpAddr addr;
  uint8_t prefix_len = 0;
  int ifindex = 0;
};

// Questions the diagnosis asks about the traced namespace's routing.
class RoutingView {
 public:
  virtual ~RoutingView() = default;
  // Route lookups are made as a local socket's: vrf is the ifindex of the VRF device the socket is
  // bound to (`ip route get ... vrf NAME`), 0 for none.
  // The route that matches dst (`ip route get fibmatch dst`).
  virtual std::optional<Route> fib_match(const IpAddr& dst, int vrf) = 0;
  // The resolved output route for dst, with the source the kernel would select in prefsrc
  // (`ip route get dst`).
  virtual std::optional<Route> route_get(const IpAddr& dst, int vrf) = 0;
  virtual std::vector<InterfaceAddress> addresses(int ifindex) = 0;
  virtual std::string interface_name(int ifindex) = 0;
  // All routes of one table (`ip route show table N`).
  virtual std::vector<Route> routes(uint32_t table) = 0;
  // The policy rules of one family, by priority (`ip rule`).
  virtual std::vector<Rule> rules(uint8_t family) = 0;
  // The namespace's VRF devices (`ip -d link show type vrf`).
  virtual std::vector<Vrf> vrfs() = 0;
};

}  // namespace svctrace
