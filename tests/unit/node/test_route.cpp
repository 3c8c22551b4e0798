#include <catch2/catch.hpp>
#include <linux/fib_rules.h>
#include <sys/socket.h>
#include <linux/rtnetlink.h>

#include "node/route.h"

using namespace svctrace;

static IpAddr ip(const char* s) { return *IpAddr::parse(s); }

TEST_CASE("routes print as `ip route` prints them", "[route]") {
  Route def;
  def.gateway = ip("10.141.13.1");
  def.dev = "enslf1";
  CHECK(format_route(def) == "default via 10.141.13.1 dev enslf1");

  Route connected;
  connected.dst = ip("10.0.0.0");
  connected.dst_len = 24;
  connected.dev = "enslf0";
  connected.protocol = RTPROT_KERNEL;
  connected.scope = RT_SCOPE_LINK;
  connected.prefsrc = ip("10.0.0.12");
  CHECK(format_route(connected) == "10.0.0.0/24 dev enslf0 proto kernel scope link src 10.0.0.12");

  Route policy;
  policy.dst = ip("10.96.0.0");
  policy.dst_len = 12;
  policy.gateway = ip("192.168.99.1");
  policy.dev = "mgmt0";
  policy.table = 200;
  policy.protocol = RTPROT_STATIC;
  policy.metric = 100;
  CHECK(format_route(policy) == "10.96.0.0/12 via 192.168.99.1 dev mgmt0 table 200 proto static metric 100");

  Route host;
  host.dst = ip("172.24.0.1");
  host.dst_len = 32;
  host.dev = "lo";
  host.type = RTN_LOCAL;
  host.table = kTableLocal;
  host.protocol = RTPROT_KERNEL;
  host.scope = RT_SCOPE_HOST;
  CHECK(format_route(host) == "local 172.24.0.1 dev lo table local proto kernel scope host");

  Route hole;
  hole.type = RTN_BLACKHOLE;
  hole.dst = ip("172.24.0.0");
  hole.dst_len = 13;
  CHECK(format_route(hole) == "blackhole 172.24.0.0/13");

  Route onlink = def;
  onlink.flags = RTNH_F_ONLINK;
  CHECK(format_route(onlink) == "default via 10.141.13.1 dev enslf1 onlink");
}

TEST_CASE("IPv6 routes print as `ip -6 route` prints them", "[route]") {
  Route def;
  def.gateway = ip("fd00:141::1");
  def.dev = "enslf1";
  def.metric = 1024;
  def.pref = 0;
  CHECK(format_route(def) == "default via fd00:141::1 dev enslf1 metric 1024 pref medium");

  Route svc;
  svc.dst = ip("fd00:10:96::");
  svc.dst_len = 112;
  svc.dev = "enslf0";
  svc.prefsrc = ip("fd00:0:0:1::12");
  svc.metric = 1024;
  svc.pref = 0;
  CHECK(format_route(svc) == "fd00:10:96::/112 dev enslf0 src fd00:0:0:1::12 metric 1024 pref medium");
}

// The flow of the incident: service IP, backend, source; it went by enslf0 (the route) and enslf1.
static const std::vector<IpAddr> kFlowIps = {ip("172.24.0.1"), ip("10.141.13.8"), ip("10.0.0.12")};

TEST_CASE("a routing change concerns a flow only if it could have changed its decision", "[route]") {
  RoutingChange deleted_default{0, RoutingChangeKind::Route, true, "default via 10.0.0.1 dev enslf0", Cidr::parse("0.0.0.0/0"), "enslf0"};
  CHECK(deleted_default.concerns(kFlowIps, {}));
  CHECK_FALSE(deleted_default.concerns({ip("fd00::1")}, {"enslf0"}));  // an IPv4 route says nothing of IPv6

  // A route on a device the flow used, whose prefix covers none of its addresses, decided nothing.
  RoutingChange elsewhere{0, RoutingChangeKind::Route, false, "192.168.7.0/24 dev enslf0", Cidr::parse("192.168.7.0/24"), "enslf0"};
  CHECK_FALSE(elsewhere.concerns(kFlowIps, {"enslf0", "enslf1"}));
  // One that covers the backend, or the source, did.
  RoutingChange to_backend{0, RoutingChangeKind::Route, false, "10.141.13.0/24 dev enslf1", Cidr::parse("10.141.13.0/24"), "enslf1"};
  CHECK(to_backend.concerns(kFlowIps, {}));
  RoutingChange to_source{0, RoutingChangeKind::Route, false, "10.0.0.0/24 dev enslf9", Cidr::parse("10.0.0.0/24"), "enslf9"};
  CHECK(to_source.concerns(kFlowIps, {}));

  RoutingChange rule{0, RoutingChangeKind::Rule, false, "1000:\tfrom all to 10.96.0.0/12 lookup 200", Cidr::parse("10.96.0.0/12"), ""};
  CHECK_FALSE(rule.concerns({ip("172.24.0.1")}, {"enslf0", "enslf1"}));
  CHECK(rule.concerns({ip("10.96.0.10")}, {}));
  RoutingChange any_to{0, RoutingChangeKind::Rule, false, "1000:\tfrom 10.0.0.0/8 lookup 200", Cidr::parse("0.0.0.0/0"), ""};
  CHECK(any_to.concerns(kFlowIps, {}));
  CHECK_FALSE(any_to.concerns({ip("fd00::1")}, {}));

  RoutingChange address{0, RoutingChangeKind::Address, true, "10.0.0.12/24 dev enslf0", Cidr::parse("10.0.0.12/32"), "enslf0"};
  CHECK(address.concerns({ip("172.24.0.1")}, {"enslf0"}));
  CHECK_FALSE(address.concerns({ip("172.24.0.1")}, {"enslf1"}));
  CHECK(address.concerns(kFlowIps, {"enslf9"}));  // it is the flow's source
}

TEST_CASE("an IPv6 link-local address on a new veth is not blamed for an IPv4 failure", "[route]") {
  // What the kernel adds to every veth that comes up: it was cited before the relevance rule.
  RoutingChange link_local{0, RoutingChangeKind::Address, false, "fe80::a8c1:abff:fe12:3456/64 dev enslf1",
                           Cidr::parse("fe80::a8c1:abff:fe12:3456/128"), "enslf1"};
  CHECK_FALSE(link_local.concerns(kFlowIps, {"enslf0", "enslf1"}));
  CHECK(link_local.concerns({ip("fd00:10:96::1"), ip("fd00:141::8"), ip("fd00::12")}, {"enslf1"}));

  // A recording made before address changes carried covers: the family is read from `what`.
  RoutingChange recorded{0, RoutingChangeKind::Address, false, "fe80::a8c1:abff:fe12:3456/64 dev enslf1",
                         std::nullopt, "enslf1"};
  CHECK(recorded.family() == AF_INET6);
  CHECK_FALSE(recorded.concerns(kFlowIps, {"enslf1"}));
  RoutingChange recorded_v4{0, RoutingChangeKind::Address, false, "10.0.0.12/24 dev enslf0", std::nullopt, "enslf0"};
  CHECK(recorded_v4.concerns(kFlowIps, {"enslf0"}));
}

TEST_CASE("rules print as `ip rule` prints them and select as the kernel would", "[route]") {
  Rule r;
  r.priority = 1000;
  r.to = Cidr::parse("10.96.0.0/12");
  r.table = 200;
  CHECK(format_rule(r) == "1000:\tfrom all to 10.96.0.0/12 lookup 200");
  CHECK(r.selects(ip("10.141.13.182"), ip("10.96.0.1"), std::nullopt));
  CHECK_FALSE(r.selects(ip("10.141.13.182"), ip("172.24.0.1"), std::nullopt));

  Rule marked;
  marked.priority = 50;
  marked.fwmark = 0x4000;
  marked.table = kTableMain;
  CHECK(format_rule(marked) == "50:\tfrom all fwmark 0x4000 lookup main");
  CHECK_FALSE(marked.selects(ip("10.0.0.12"), ip("10.96.0.1"), std::nullopt));
  CHECK(marked.selects(ip("10.0.0.12"), ip("10.96.0.1"), 0x4000u));

  Rule from_pods;
  from_pods.from = Cidr::parse("10.244.0.0/16");
  from_pods.iif = "cni0";
  CHECK_FALSE(from_pods.selects(ip("10.244.0.2"), ip("10.96.0.1"), std::nullopt));  // not a local lookup
}

TEST_CASE("the l3mdev rule selects only lookups made in a VRF, and sends them to its table", "[route][vrf]") {
  Rule l3mdev;
  l3mdev.priority = 1000;
  l3mdev.l3mdev = true;
  l3mdev.table = 0;
  CHECK(format_rule(l3mdev) == "1000:\tfrom all lookup [l3mdev-table]");
  CHECK_FALSE(l3mdev.selects(ip("10.141.13.182"), ip("172.24.0.1"), std::nullopt));
  CHECK(l3mdev.selects(ip("10.141.13.182"), ip("172.24.0.1"), std::nullopt, 10));
  CHECK(l3mdev.table_for(10) == 10);

  Rule from_vrf_nets = l3mdev;  // `ip rule add from 10.1.0.0/16 l3mdev`
  from_vrf_nets.from = Cidr::parse("10.1.0.0/16");
  CHECK(format_rule(from_vrf_nets) == "1000:\tfrom 10.1.0.0/16 lookup [l3mdev-table]");
  CHECK_FALSE(from_vrf_nets.selects(ip("10.141.13.182"), ip("172.24.0.1"), std::nullopt, 10));

  Rule table200;
  table200.table = 200;
  CHECK(table200.selects(ip("10.141.13.182"), ip("172.24.0.1"), std::nullopt, 10));  // VRF or not
  CHECK(table200.table_for(10) == 200);
}

TEST_CASE("rules that do not look a table up print their action, as `ip rule` does", "[route]") {
  Rule r;
  r.priority = 1001;
  r.table = 0;
  r.goto_target = 32766;
  const std::pair<uint8_t, const char*> printed[] = {{FR_ACT_UNREACHABLE, "unreachable"}, {FR_ACT_BLACKHOLE, "blackhole"},
                                                      {FR_ACT_PROHIBIT, "prohibit"},       {FR_ACT_NOP, "nop"},
                                                      {FR_ACT_GOTO, "goto 32766"}};
  for (auto [action, text] : printed) {
    r.action = action;
    CHECK(format_rule(r) == std::string("1001:\tfrom all ") + text);
    CHECK_FALSE(r.selects(ip("10.0.0.12"), ip("172.24.0.1"), std::nullopt));
  }
}

TEST_CASE("multipath routes print one nexthop line per path", "[route]") {
  Route mp;
  mp.dst = ip("172.24.0.0");
  mp.dst_len = 13;
  mp.protocol = RTPROT_STATIC;
  mp.metric = 50;
  mp.nexthops = {{ip("10.141.13.1"), 3, "enslf1", 1, 0}, {ip("10.0.0.8"), 2, "enslf0", 2, 0}};
  CHECK(format_route(mp) ==
        "172.24.0.0/13 proto static metric 50\n\tnexthop via 10.141.13.1 dev enslf1 weight 1"
        "\n\tnexthop via 10.0.0.8 dev enslf0 weight 2");
}
