#include <catch2/catch.hpp>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>

#include "synthetic_events.h"
#include "fake_routing.h"
#include "incident_flows.h"
#include "diagnose/diagnosis.h"
#include "diagnose/persistent_fix.h"
#include "diagnose/safe_fix.h"
#include "report/output.h"

using namespace svctrace;
using namespace test;

namespace {

const std::vector<Cidr> kCidrs = {Cidr::parse("172.24.0.0/13")};

// The incident's fix, as `ip route` lists it once applied: 172.24.0.0/13 dev enslf0 scope link src 10.0.0.12.
Route fix_route() {
  Route fixed;
  fixed.dst = ip("172.24.0.0");
  fixed.dst_len = 13;
  fixed.oif = 2;
  fixed.dev = "enslf0";
  fixed.scope = RT_SCOPE_LINK;
  fixed.prefsrc = ip("10.0.0.12");
  return fixed;
}

}  // namespace

TEST_CASE("the incident: source chosen by the default route, packet leaves the other NIC", "[diagnosis]") {
  FakeRouting routing;
  Diagnosis d = diagnose(incident_flow(), routing, kCidrs);
  CHECK(name(d.verdict) == "asymmetric_source");
  REQUIRE(d.source_route);
  CHECK(format_route(*d.source_route) == "default via 10.141.13.1 dev enslf1");
  CHECK(d.egress_dev == "enslf0");
  CHECK(d.route_dev == "enslf1");
  CHECK(d.expected_source.str() == "10.0.0.12");
  CHECK(d.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12");
  CHECK(d.syns == 2);

  auto j = diagnosis_json(d);
  CHECK(j["type"] == "diagnosis");
  CHECK(j["flow"]["src"] == "10.141.13.182");
  CHECK(j["flow"]["dport"] == 443);
  CHECK(j["dnat"]["ip"] == "10.0.0.8");
  CHECK(j["dnat"]["port"] == 6443);
  CHECK(j["source_route"] == "default via 10.141.13.1 dev enslf1");
  CHECK(j["evidence"]["syns"] == 2);
  CHECK(j["evidence"]["waited_ms"] == 1000.0);

  std::string text = human_diagnosis(d);
  CHECK(text.find("✗ 10.141.13.182:52946 → 172.24.0.1:443 (DNAT 10.0.0.8:6443) out enslf0: no SYN-ACK after 2 SYNs") == 0);
  CHECK(text.find("source 10.141.13.182 was chosen by route \"default via 10.141.13.1 dev enslf1\" (table main)") !=
        std::string::npos);
  CHECK(text.find("fix: ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12\n") != std::string::npos);
  CHECK_FALSE(j.contains("preexisting"));
}

TEST_CASE("a flow from before the start is said to be one, untimed, in the line and the JSON", "[diagnosis]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.preexisting = true;
  f.decided_ns = f.first_seen_ns;
  Diagnosis d = diagnose(f, routing, kCidrs);
  CHECK(d.preexisting);
  CHECK(diagnosis_json(d)["preexisting"] == true);
  std::string text = human_diagnosis(d);
  CHECK(text.find("out enslf0: preexisting: conntrack's entry, from before svctrace started, has no SYN-ACK") !=
        std::string::npos);
  CHECK(text.find(" ms)") == std::string::npos);
}

TEST_CASE("a route chosen in another table is named with its table, and the fix goes there", "[diagnosis]") {
  FakeRouting routing;
  routing.service_route->table = 200;
  routing.service_route->dst = ip("172.24.0.0");
  routing.service_route->dst_len = 13;
  routing.table_routes = {*routing.service_route};
  Diagnosis d = diagnose(incident_flow(), routing, kCidrs);
  CHECK(format_route(*d.source_route) == "172.24.0.0/13 via 10.141.13.1 dev enslf1 table 200");
  // A route for exactly that prefix exists in table 200: replace it rather than fail with "File exists".
  CHECK(d.fix == "ip route replace 172.24.0.0/13 dev enslf0 src 10.0.0.12 table 200");
}

TEST_CASE("a backend behind a gateway gets a fix through that gateway", "[diagnosis]") {
  FakeRouting routing;
  routing.backend_route->gateway = ip("10.0.0.1");
  Diagnosis d = diagnose(incident_flow(), routing, kCidrs);
  CHECK(d.fix == "ip route add 172.24.0.0/13 via 10.0.0.1 dev enslf0 src 10.0.0.12");
}

TEST_CASE("a source the egress device owns is not blamed on routes", "[diagnosis]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.key.src = ip("10.0.0.12");
  Diagnosis d = diagnose(f, routing, kCidrs);
  CHECK(name(d.verdict) == "unanswered");
  CHECK(d.fix.empty());
  CHECK_FALSE(d.source_route);
  CHECK(d.reason.find("10.0.0.8:6443 did not answer") == 0);
  CHECK(d.reason.find("ruled out: the source (10.0.0.12 belongs to enslf0), the NAT (DNAT to 10.0.0.8 happened), "
                      "drops on this node (none seen)") != std::string::npos);
}

TEST_CASE("a masqueraded flow is judged by the source the backend sees", "[diagnosis]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.snat_ip = ip("10.0.0.12");
  f.snat_port = 61000;
  CHECK(name(diagnose(f, routing, kCidrs).verdict) == "unanswered");
}

TEST_CASE("a refused backend is refused, with no route blamed", "[diagnosis]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.state = FlowState::Refused;
  Diagnosis d = diagnose(f, routing, kCidrs);
  CHECK(name(d.verdict) == "refused");
  CHECK(d.fix.empty());
  CHECK_FALSE(d.source_route);
  CHECK(diagnosis_json(d)["fix"].is_null());
  CHECK(human_diagnosis(d).find("refused (RST)") != std::string::npos);
  CHECK(d.answered_by == "rst");
}

TEST_CASE("a service IP that was never DNAT'd is not_dnatted, refused without DNAT is no_endpoints", "[diagnosis]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.dnat_ip.reset();
  Diagnosis d = diagnose(f, routing, kCidrs);
  CHECK(name(d.verdict) == "not_dnatted");
  CHECK(d.reason.find("no DNAT happened for 172.24.0.1:443") == 0);
  CHECK(d.fix.empty());
  CHECK(diagnosis_json(d)["dnat"].is_null());

  f.state = FlowState::Refused;
  f.icmp_error = true;
  f.icmp_type = 3;
  f.icmp_code = 3;
  d = diagnose(f, routing, kCidrs);
  CHECK(name(d.verdict) == "no_endpoints");
  CHECK(d.answered_by == "icmp type 3 code 3");
  CHECK(d.reason.find("no ready endpoints") != std::string::npos);
}

TEST_CASE("the fix covers the CIDR that holds the service IP", "[diagnosis]") {
  std::vector<Cidr> cidrs = {Cidr::parse("10.96.0.0/12"), Cidr::parse("172.24.0.0/13")};
  CHECK(covering_cidr(cidrs, ip("172.24.0.1")).str() == "172.24.0.0/13");
  CHECK(covering_cidr(cidrs, ip("10.100.0.1")).str() == "10.96.0.0/12");
  CHECK(covering_cidr(cidrs, ip("192.0.2.1")).str() == "192.0.2.1/32");
}

TEST_CASE("a reply dropped by rp_filter is named with the kernel's reason and device", "[diagnosis]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.reply_ns = 1 * kMs;
  f.reply_ifindex = 3;
  f.drops = 2;
  f.drop_reason = 16;
  f.drop_ifindex = 3;
  DropReasonNames names{{16, "IP_RPFILTER"}};
  Diagnosis d = diagnose(f, routing, kCidrs, names);
  CHECK(name(d.verdict) == "reply_dropped");
  CHECK(d.drop_reason == "IP_RPFILTER");
  CHECK(d.drop_dev == "enslf1");
  CHECK(d.reason.find("rp_filter on enslf1") != std::string::npos);
  // The source is still the wrong one: the route fix removes the cause.
  CHECK(d.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12");

  // With the right source, the fix is rp_filter's own.
  f.key.src = ip("10.0.0.12");
  d = diagnose(f, routing, kCidrs, names);
  CHECK(d.fix == "sysctl -w net.ipv4.conf.enslf1.rp_filter=2");
  // An unknown reason number is shown as a number, not guessed.
  d = diagnose(f, routing, kCidrs, {{2, "NOT_SPECIFIED"}});
  CHECK(d.drop_reason == "reason 16");
  // A kernel with no drop reasons at all (before 5.17) gives none: said so, not "reason 0".
  f.drop_reason = 0;
  d = diagnose(f, routing, kCidrs, {});
  CHECK(d.drop_reason == "unknown (no drop reasons before Linux 5.17)");
}

TEST_CASE("a forwarded pod flow is never blamed on the node's routes", "[diagnosis]") {
  FakeRouting routing;
  routing.names[7] = "cni0";
  Flow f = incident_flow();
  f.key.src = ip("10.244.0.2");
  f.route_ifindex = 0;
  f.ingress_ifindex = 7;
  Diagnosis d = diagnose(f, routing, kCidrs);
  CHECK(name(d.verdict) == "unanswered");
  CHECK(d.forwarded);
  CHECK(d.fix.empty());
  CHECK(d.reason.find("forwarded from 10.244.0.2 (in by cni0) without SNAT") == 0);
}

TEST_CASE("a UDP service answered with port unreachable is refused", "[diagnosis]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.key.proto = IPPROTO_UDP;
  f.state = FlowState::Refused;
  f.icmp_error = true;
  f.icmp_type = 3;
  f.icmp_code = 3;
  Diagnosis d = diagnose(f, routing, kCidrs);
  CHECK(name(d.verdict) == "refused");
  CHECK(d.answered_by == "icmp type 3 code 3");
  CHECK(human_diagnosis(d).find("refused (icmp type 3 code 3)") != std::string::npos);
}

TEST_CASE("the rule that sent the lookup to a policy table is named", "[diagnosis]") {
  FakeRouting routing;
  routing.service_route->table = 200;
  Rule local, policy, main_rule;
  local.priority = 0;
  local.table = kTableLocal;
  policy.priority = 1000;
  policy.to = Cidr::parse("172.24.0.0/13");
  policy.table = 200;
  main_rule.priority = 32766;
  routing.rule_list = {local, policy, main_rule};
  Diagnosis d = diagnose(incident_flow(), routing, kCidrs);
  REQUIRE(d.source_rule);
  CHECK(format_rule(*d.source_rule) == "1000:\tfrom all to 172.24.0.0/13 lookup 200");
  CHECK(human_diagnosis(d).find("selected by rule \"1000:\tfrom all to 172.24.0.0/13 lookup 200\"") !=
        std::string::npos);

  // Through the default rules alone (table main), no rule is named.
  routing.service_route->table = kTableMain;
  CHECK_FALSE(diagnose(incident_flow(), routing, kCidrs).source_rule);
}

TEST_CASE("a flow that failed before the fix was applied is not given today's route or a fix", "[diagnosis]") {
  FakeRouting routing;
  // The fix route is in place by the time the verdict is due: the service IP now gets 10.0.0.12.
  Route fixed = fix_route();
  routing.service_route = fixed;
  Route now = fixed;
  now.dst = ip("172.24.0.1");
  now.dst_len = 32;
  routing.route_get_by_ip["172.24.0.1"] = now;
  Diagnosis d = diagnose(incident_flow(), routing, kCidrs);
  CHECK(name(d.verdict) == "asymmetric_source");
  CHECK_FALSE(d.source_route);
  CHECK(d.fix.empty());
  CHECK_THAT(d.reason, Catch::Contains("the routing has changed since") && Catch::Contains("now get source 10.0.0.12"));
  CHECK_THAT(human_diagnosis(d), Catch::Contains("the routing has changed since") && !Catch::Contains("fix:"));
}

TEST_CASE("a route added between the lookup and the table read is not given as a fix already in place",
          "[diagnosis]") {
  // The fix route flaps: the lookups (route get, fibmatch) ran while it was gone and named the default
  // route; it was back when the table was read. Neither "replace" with the route that is there nor the
  // default route named beside it: the flow predates the routing now.
  FakeRouting routing;
  Route fixed = fix_route();
  routing.table_routes.push_back(fixed);
  Diagnosis d = diagnose(incident_flow(), routing, kCidrs);
  CHECK(name(d.verdict) == "asymmetric_source");
  CHECK_FALSE(d.source_route);
  CHECK(d.fix.empty());
  CHECK_THAT(d.reason, Catch::Contains("the routing has changed since: the route for 172.24.0.1 now is "
                                       "\"172.24.0.0/13 dev enslf0 scope link src 10.0.0.12\""));

  // A more specific route that could have chosen the flow's source is left to the lookup's answer.
  fixed.prefsrc = ip("10.141.13.182");
  fixed.oif = 3;
  fixed.dev = "enslf1";
  routing.table_routes.back() = fixed;
  d = diagnose(incident_flow(), routing, kCidrs);
  REQUIRE(d.source_route);
  CHECK(format_route(*d.source_route) == "default via 10.141.13.1 dev enslf1");
}

TEST_CASE("a reply conntrack found INVALID is named so, not blamed on routes or on this node's rules", "[diagnosis]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.key = FlowKey::from_tuple(kNetns, tuple("10.0.0.12", 52946, "172.24.0.1", 443));  // the right source
  f.drops = 2;
  f.drop_reason = 5;
  f.drop_ifindex = 2;
  f.reply_invalid = true;
  Diagnosis d = diagnose(f, routing, kCidrs, {{5, "NETFILTER_DROP"}});
  CHECK(name(d.verdict) == "reply_invalid");
  CHECK(d.fix.empty());
  CHECK(d.reply_dev == "enslf0");
  CHECK_THAT(d.reason, Catch::Contains("conntrack found it INVALID") && Catch::Contains("NETFILTER_DROP"));
  CHECK_THAT(human_diagnosis(d), Catch::Contains("reply INVALID to conntrack, dropped on enslf0"));
}

namespace {

// The incident's flow from a socket bound to vrf-blue: the route hook saw the lookup match in table 10.
Flow vrf_flow(uint32_t table = 10) {
  Flow f = incident_flow();
  RouteDecision r;
  r.table = table;
  r.oif = 3;
  r.gateway = ip("10.141.13.1");
  r.nh_saddr = ip("10.141.13.182");
  f.route = r;
  return f;
}

}  // namespace

TEST_CASE("in a VRF: the route of the VRF's table, the l3mdev rule, and a fix in that table", "[diagnosis][vrf]") {
  FakeRouting routing;
  put_in_vrf(routing);
  Diagnosis d = diagnose(vrf_flow(), routing, kCidrs);
  CHECK(name(d.verdict) == "asymmetric_source");
  REQUIRE(d.vrf);
  CHECK(d.vrf->name == "vrf-blue");
  CHECK_FALSE(d.vrf_table_missed);
  REQUIRE(d.source_route);
  CHECK(format_route(*d.source_route) == "default via 10.141.13.1 dev enslf1 table 10");
  REQUIRE(d.source_rule);
  CHECK(format_rule(*d.source_rule) == "1000:\tfrom all lookup [l3mdev-table]");
  // Asked in the VRF: outside it the backend has no route at all, and no source to expect.
  CHECK(d.expected_source.str() == "10.0.0.12");
  CHECK(d.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12 table 10");
  CHECK_THAT(d.reason, Catch::StartsWith("in VRF vrf-blue (table 10): source 10.141.13.182 was chosen"));

  auto j = diagnosis_json(d);
  CHECK(j["vrf"]["name"] == "vrf-blue");
  CHECK(j["vrf"]["table"] == "10");
  CHECK(j["source_rule"] == "1000:\tfrom all lookup [l3mdev-table]");
  CHECK(j["source_route_table"] == "10");
  CHECK_THAT(human_diagnosis(d),
             Catch::Contains("source 10.141.13.182 was chosen by route \"default via 10.141.13.1 dev enslf1 table 10\" "
                             "(table 10 of VRF vrf-blue, selected by rule \"1000:\tfrom all lookup [l3mdev-table]\")") &&
                 Catch::Contains("fix: ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12 table 10\n"));

  // A route for the prefix already in the VRF's table: replaced there.
  Route prefix = routing.table_routes[0];
  prefix.dst = ip("172.24.0.0");
  prefix.dst_len = 13;
  routing.table_routes.push_back(prefix);
  CHECK(diagnose(vrf_flow(), routing, kCidrs).fix == "ip route replace 172.24.0.0/13 dev enslf0 src 10.0.0.12 table 10");
}

TEST_CASE("without the VRF's view the same flow gets no fix: svctrace must ask in the VRF", "[diagnosis][vrf]") {
  FakeRouting routing;
  put_in_vrf(routing);
  routing.vrf_list.clear();  // as svctrace saw it before it followed VRFs
  Diagnosis d = diagnose(vrf_flow(), routing, kCidrs);
  CHECK(name(d.verdict) == "asymmetric_source");
  CHECK_FALSE(d.vrf);
  CHECK_FALSE(d.source_route);
  CHECK(d.fix.empty());
}

TEST_CASE("in a VRF whose table has no route for the service, the lookup fell through: fix the VRF's table",
          "[diagnosis][vrf]") {
  FakeRouting routing;
  // Only enslf0 is in vrf-blue; the default route is main's, and table 10 has only enslf0's network.
  routing.vrf_list = {{7, "vrf-blue", 10, {2}}};
  routing.names[7] = "vrf-blue";
  routing.rule_list = vrf_rules();
  routing.backend_route = routing.route_get_by_ip["172.24.0.1"];  // outside the VRF 10.0.0.8 is behind the default route
  routing.backend_route->dst = ip("10.0.0.8");
  routing.vrf_service_route[7] = *routing.service_route;  // the VRF's lookup ends in main
  routing.vrf_route_get[7]["10.0.0.8"] = host_route("10.0.0.8", 2, "enslf0", "10.0.0.12", 10);
  routing.vrf_route_get[7]["172.24.0.1"] = routing.route_get_by_ip["172.24.0.1"];

  Diagnosis d = diagnose(vrf_flow(kTableMain), routing, kCidrs);
  CHECK(name(d.verdict) == "asymmetric_source");
  REQUIRE(d.vrf);
  CHECK(d.vrf_table_missed);
  CHECK(format_route(*d.source_route) == "default via 10.141.13.1 dev enslf1");
  CHECK_FALSE(d.source_rule);
  CHECK(d.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12 table 10");
  CHECK_THAT(d.reason, Catch::EndsWith("the VRF's table 10 has no route for 172.24.0.1, so the lookup fell through to "
                                       "table main"));
  CHECK_THAT(human_diagnosis(d), Catch::Contains("(table main, after VRF vrf-blue's table 10 had no route for 172.24.0.1)"));

  // A route outside the VRF leaks to enslf0 as well: a socket outside the VRF would have left there too,
  // so nothing says this one was in the VRF. The fix stays where the lookup went.
  routing.backend_route->gateway = {};
  routing.backend_route->oif = 2;
  routing.backend_route->dev = "enslf0";
  routing.backend_route->prefsrc = ip("10.0.0.12");
  Diagnosis leak = diagnose(vrf_flow(kTableMain), routing, kCidrs);
  CHECK_FALSE(leak.vrf);
  CHECK(leak.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12");
}

TEST_CASE("an l3mdev rule and a VRF on the node do not touch a flow outside the VRF", "[diagnosis][vrf]") {
  FakeRouting routing;
  routing.names[7] = "vrf-blue";
  routing.vrf_list = {{7, "vrf-blue", 10, {9}}};  // another NIC's VRF
  routing.rule_list = vrf_rules();
  Diagnosis d = diagnose(vrf_flow(kTableMain), routing, kCidrs);
  CHECK_FALSE(d.vrf);
  CHECK_FALSE(d.source_rule);  // the l3mdev rule selects no lookup outside a VRF
  CHECK(format_route(*d.source_route) == "default via 10.141.13.1 dev enslf1");
  CHECK(d.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12");
}


TEST_CASE("on a backend, SYNs whose answer found no route: no_route_back, with the tables tried", "[diagnosis]") {
  FakeRouting routing = api_routing();
  Diagnosis d = diagnose(incoming_flow(), routing, {Cidr::parse("10.0.0.8/32")});
  CHECK(name(d.verdict) == "no_route_back");
  CHECK(d.arrival_dev == "eth0");
  CHECK(d.missed_table == kTableMain);
  CHECK(d.tables_tried == std::vector<std::string>{"local", "main", "default"});
  CHECK_FALSE(d.route_back_now);
  CHECK(d.fix.empty());  // nothing here is sure to be the fix: the client's source may be the mistake
  CHECK(d.check == "ip route get 10.141.13.182 from 10.0.0.8");
  CHECK(d.reason.find("2 SYNs from 10.141.13.182:52946 reached 10.0.0.8:6443 on eth0") != std::string::npos);
  CHECK(d.reason.find("none of the tables the rules send it to (local, main, default) covers 10.141.13.182") !=
        std::string::npos);
  std::string human = human_diagnosis(d);
  CHECK(human.find("in on eth0: no route back, no SYN-ACK sent to 2 SYNs") != std::string::npos);
  CHECK(human.find("  check: ip route get 10.141.13.182 from 10.0.0.8\n") != std::string::npos);
  auto j = diagnosis_json(d);
  CHECK(j["evidence"]["route_back"]["kernel_missed_in_table"] == "main");
  CHECK(j["check"] == "ip route get 10.141.13.182 from 10.0.0.8");
}

TEST_CASE("on a backend, a route back that appeared since is named, an unreachable route or rule is the cause",
          "[diagnosis]") {
  FakeRouting routing = api_routing();
  Route wide;  // 10.0.0.0/8 unreachable, and a more specific way back through a table a rule selects
  wide.type = RTN_UNREACHABLE;
  wide.dst = ip("10.0.0.0");
  wide.dst_len = 8;
  routing.table_routes.push_back(wide);
  SECTION("an unreachable route in main") {
    Flow f = incoming_flow();
    f.reply_route_err = -EHOSTUNREACH;  // what the kernel's lookup returns on such a route
    Diagnosis d = diagnose(f, routing, {});
    CHECK_FALSE(d.route_back_now);
    CHECK(d.reason.find("hit a route in table main that refuses it (No route to host)") != std::string::npos);
    CHECK(d.reason.find("route \"unreachable 10.0.0.0/8\" refuses it") != std::string::npos);
  }
  SECTION("a rule to a table with a route back, before main") {
    Rule to_100;
    to_100.priority = 1000;
    to_100.to = Cidr::parse("10.141.13.0/24");
    to_100.table = 100;
    routing.rule_list.insert(routing.rule_list.begin() + 1, to_100);
    Route back;
    back.dst = ip("10.141.0.0");
    back.dst_len = 16;
    back.gateway = ip("10.0.0.12");
    back.oif = 5;
    back.dev = "eth0";
    back.table = 100;
    routing.table_routes.push_back(back);
    Diagnosis d = diagnose(incoming_flow(), routing, {});
    CHECK(d.tables_tried == std::vector<std::string>{"local", "100"});
    REQUIRE(d.route_back_now);
    CHECK(d.reason.find("the routing has changed since: route \"10.141.0.0/16 via 10.0.0.12 dev eth0 table 100\"") !=
          std::string::npos);
  }
  SECTION("a rule that refuses it") {
    Rule refuse;
    refuse.priority = 500;
    refuse.to = Cidr::parse("10.141.0.0/16");
    refuse.action = 7;  // FR_ACT_UNREACHABLE, which looks up no table
    refuse.table = 0;
    routing.rule_list.insert(routing.rule_list.begin() + 1, refuse);
    Diagnosis d = diagnose(incoming_flow(), routing, {});
    CHECK(d.tables_tried == std::vector<std::string>{"local"});
    CHECK(d.reason.find("rule \"500:\tfrom all to 10.141.0.0/16 unreachable\" refuses it") != std::string::npos);
  }
}

TEST_CASE("an ICMP net or host unreachable is unreachable, with who sent it, not the backend refusing",
          "[diagnosis]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.state = FlowState::Refused;
  f.icmp_error = true;
  f.icmp_type = 3;
  SECTION("from a router on the way") {
    f.icmp_code = 0;
    f.icmp_from = ip("10.0.0.1");
    Diagnosis d = diagnose(f, routing, kCidrs);
    CHECK(name(d.verdict) == "unreachable");
    CHECK(d.answered_by == "ICMP net unreachable from 10.0.0.1");
    CHECK(d.reason.find("10.0.0.1 answered the SYN with ICMP net unreachable: a router on the way to "
                        "10.0.0.8:6443 has no route to it") != std::string::npos);
    CHECK(d.fix.empty());
    CHECK(human_diagnosis(d).find(": ICMP net unreachable from 10.0.0.1") != std::string::npos);
  }
  SECTION("from this node, whose neighbour resolution failed") {
    f.icmp_code = 1;
    f.icmp_from = ip("10.0.0.12");  // enslf0's own address
    Diagnosis d = diagnose(f, routing, kCidrs);
    CHECK(name(d.verdict) == "unreachable");
    CHECK(d.reason.find("this node (10.0.0.12) found no way to 10.0.0.8 (host unreachable on enslf0)") !=
          std::string::npos);
    // The node's error takes the source of the route back to the flow's source: the incident's one.
    f.icmp_from = ip("10.141.13.182");
    CHECK(diagnose(f, routing, kCidrs).reason.find("this node (10.141.13.182) found no way") != std::string::npos);
  }
  SECTION("a service IP that was not DNAT'd, answered by a router: unreachable, not no_endpoints") {
    f.dnat_ip.reset();
    f.icmp_code = 0;
    f.icmp_from = ip("10.141.13.1");
    CHECK(name(diagnose(f, routing, kCidrs).verdict) == "unreachable");
  }
  SECTION("an administratively prohibited one is still refused") {
    f.icmp_code = 13;
    f.icmp_from = ip("10.0.0.1");
    CHECK(name(diagnose(f, routing, kCidrs).verdict) == "refused");
  }
}

// What /bin/sh reads `word` as, run as the one argument of printf.
static std::string shell_reads(const std::string& word) {
  std::string cmd = "printf '%s' " + word;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[256];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  return out;
}

TEST_CASE("a device name a shell would read as code is one quoted word in every fix", "[diagnosis]") {
  // The kernel refuses only /, : and white space in a device's name.
  for (std::string dev : {"enslf0", "we;ird", "it's", "$(touch /tmp/svctrace-unit-pwned)", "a`b`\\c", "\"q\""})
    CHECK(shell_reads(shell_word(dev)) == dev);
  CHECK(shell_word("enslf0") == "enslf0");
  CHECK(shell_word("eth0.100@bond0") == "eth0.100@bond0");
  CHECK_FALSE(std::filesystem::exists("/tmp/svctrace-unit-pwned"));

  FakeRouting routing;
  routing.backend_route->dev = "we;ird";
  Diagnosis d = diagnose(incident_flow(), routing, kCidrs);
  CHECK(d.fix == "ip route add 172.24.0.0/13 dev 'we;ird' src 10.0.0.12");

  NetworkManagement nm;
  nm.tool = "ifupdown";
  CHECK_THAT(persistent_fix(nm, *d.fix_route), Catch::Contains("up ip route replace 172.24.0.0/13 dev 'we;ird'"));
  nm.tool = "NetworkManager";
  CHECK_THAT(persistent_fix(nm, *d.fix_route), Catch::Contains("device show 'we;ird')") &&
                                                    Catch::Contains("nmcli device reapply 'we;ird'"));
  SourceNatFix snat{ip("10.141.13.182"), "it's", ip("10.0.0.12")};
  CHECK(source_nat_fix_command(snat, "iptables") ==
        "iptables -t nat -I POSTROUTING 1 -o 'it'\\''s' -s 10.141.13.182/32 -j SNAT --to-source 10.0.0.12");
  CHECK_THAT(shell_reads(source_nat_fix_command(snat, "nft").substr(4)),
             Catch::Contains("postrouting oifname \"it's\" ip saddr 10.141.13.182 snat to 10.0.0.12"));
}

TEST_CASE("rp_filter's fix names a VLAN device as sysctl reads it", "[diagnosis]") {
  // sysctl reads dots as separators: a device with a dot in its name is written with a slash.
  CHECK(sysctl_conf_command("enslf1", "rp_filter", 2) == "sysctl -w net.ipv4.conf.enslf1.rp_filter=2");
  CHECK(sysctl_conf_command("eth0.100", "rp_filter", 2) == "sysctl -w net.ipv4.conf.eth0/100.rp_filter=2");
  CHECK(sysctl_conf_command("we;ird", "rp_filter", 2) == "sysctl -w 'net.ipv4.conf.we;ird.rp_filter=2'");
}
