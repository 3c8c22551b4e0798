// Each step of the diagnosis on its own: what gather_evidence() sees, and each explain_ function taking
// the flows of its verdict and declining the others (diagnose() tries them in order: test_diagnosis).
#include <catch2/catch.hpp>
#include <netinet/in.h>

#include "diagnose/explain.h"
#include "fake_routing.h"
#include "incident_flows.h"

using namespace svctrace;
using namespace test;

namespace {
const std::vector<Cidr> kCidrs = {Cidr::parse("172.24.0.0/13")};
const DropReasonNames kDropNames = {{5, "NETFILTER_DROP"}, {16, "IP_RPFILTER"}};

// The incident's flow, answered by the backend with a reset or ICMP error type 3 code `icmp_code`.
Flow refused_flow(std::optional<uint8_t> icmp_code = std::nullopt) {
  Flow f = incident_flow();
  f.state = FlowState::Refused;
  f.icmp_error = icmp_code.has_value();
  f.icmp_type = 3;
  f.icmp_code = icmp_code.value_or(0);
  return f;
}

// The incident's flow with `drops` packets dropped on ifindex `dev` for kernel reason `reason`.
Flow dropped_flow(uint32_t reason, int dev) {
  Flow f = incident_flow();
  f.drops = 2;
  f.drop_reason = reason;
  f.drop_ifindex = dev;
  return f;
}
}  // namespace

TEST_CASE("gather_evidence: the incident's flow out of the node", "[explain]") {
  FakeRouting routing;
  Flow f = incident_flow();
  Evidence ev = gather_evidence(f, routing, {});
  CHECK(ev.egress == 2);
  CHECK(ev.seen.egress_dev == "enslf0");
  CHECK(ev.seen.route_dev == "enslf1");
  CHECK(ev.seen.expected_source.str() == "10.0.0.12");
  CHECK(ev.seen_source.str() == "10.141.13.182");
  CHECK_FALSE(ev.source_on_egress);
  CHECK(ev.asymmetric);
  CHECK(ev.seen.syns == 2);
  CHECK(ev.seen.waited_ns == 1000 * kMs);
  CHECK(ev.seen.reason.empty());

  f.snat_ip = ip("10.0.0.12");  // masqueraded: the backend sees enslf0's own address
  Evidence masqueraded = gather_evidence(f, routing, {});
  CHECK(masqueraded.source_on_egress);
  CHECK_FALSE(masqueraded.asymmetric);
}

TEST_CASE("gather_evidence: a flow into a backend looks up nothing about an egress", "[explain]") {
  FakeRouting routing = api_routing();
  Flow f = incoming_flow();
  Evidence ev = gather_evidence(f, routing, {});
  CHECK_FALSE(ev.to_backend);
  CHECK(ev.egress == 0);
  CHECK(ev.seen.egress_dev.empty());
  CHECK_FALSE(ev.asymmetric);
}

TEST_CASE("explain_no_route_back: SYNs in, no route for the SYN-ACK", "[explain]") {
  FakeRouting routing = api_routing();
  Flow f = incoming_flow();
  auto d = explain_no_route_back(gather_evidence(f, routing, {}), routing);
  REQUIRE(d);
  CHECK(d->verdict == Verdict::NoRouteBack);
  CHECK(d->arrival_dev == "eth0");
  CHECK(d->check == "ip route get 10.141.13.182 from 10.0.0.8");
  CHECK(d->fix.empty());
  CHECK_THAT(d->reason, Catch::StartsWith("2 SYNs from 10.141.13.182:52946 reached 10.0.0.8:6443 on eth0, but the "
                                          "kernel found no route back to 10.141.13.182") &&
                            Catch::Contains("(local, main, default) covers 10.141.13.182"));

  FakeRouting node;
  Flow out = incident_flow();
  CHECK_FALSE(explain_no_route_back(gather_evidence(out, node, {}), node));
}

TEST_CASE("explain_no_endpoints: a service IP refused at once without DNAT", "[explain]") {
  FakeRouting routing;
  Flow f = refused_flow();
  f.dnat_ip.reset();
  auto d = explain_no_endpoints(gather_evidence(f, routing, {}));
  REQUIRE(d);
  CHECK(d->verdict == Verdict::NoEndpoints);
  CHECK(d->answered_by == "rst");
  CHECK(d->fix.empty());
  CHECK_THAT(d->reason, Catch::StartsWith("172.24.0.1:443 was not DNAT'd and was refused at once") &&
                            Catch::Contains("no ready endpoints"));
  f.drops = 1;  // the REJECT was this node's own: its drop names it
  f.drop_reason = 5;
  CHECK(explain_no_endpoints(gather_evidence(f, routing, kDropNames))->answered_by == "local reject (NETFILTER_DROP)");

  Flow dnatted = refused_flow();
  CHECK_FALSE(explain_no_endpoints(gather_evidence(dnatted, routing, {})));
  Flow unanswered = incident_flow();
  unanswered.dnat_ip.reset();
  CHECK_FALSE(explain_no_endpoints(gather_evidence(unanswered, routing, {})));
}

TEST_CASE("explain_reply_invalid: a reply conntrack found INVALID", "[explain]") {
  FakeRouting routing;
  Flow f = dropped_flow(5, 2);
  f.reply_invalid = true;
  auto d = explain_reply_invalid(gather_evidence(f, routing, kDropNames));
  REQUIRE(d);
  CHECK(d->verdict == Verdict::ReplyInvalid);
  CHECK(d->reply_dev == "enslf0");
  CHECK(d->fix.empty());
  CHECK_THAT(d->reason, Catch::StartsWith("a reply from 10.0.0.8:6443 arrived on enslf0 and conntrack found it "
                                          "INVALID") &&
                            Catch::Contains("the kernel dropped it (NETFILTER_DROP)"));

  Flow plain = dropped_flow(5, 2);
  CHECK_FALSE(explain_reply_invalid(gather_evidence(plain, routing, kDropNames)));
}

TEST_CASE("explain_dropped_here: dropped on this node, no answer from anywhere", "[explain]") {
  FakeRouting routing;
  Flow f = dropped_flow(5, 2);
  auto d = explain_dropped_here(gather_evidence(f, routing, kDropNames));
  REQUIRE(d);
  CHECK(d->verdict == Verdict::DroppedHere);
  CHECK(d->fix.empty());
  CHECK(d->reason == "this node dropped the flow's packets before they reached 10.0.0.8:6443 (NETFILTER_DROP on "
                     "enslf0): a firewall rule, most likely");

  // Dropped before conntrack made it an entry: its table full, not a filter rule. No DNAT was seen.
  Flow untracked = dropped_flow(5, 2);
  untracked.untracked_drop = true;
  untracked.dnat_ip.reset();
  untracked.drop_ifindex = 0;
  auto full = explain_dropped_here(gather_evidence(untracked, routing, kDropNames));
  REQUIRE(full);
  CHECK(full->verdict == Verdict::DroppedHere);
  CHECK(full->fix.empty());
  CHECK_THAT(full->reason, Catch::StartsWith("this node dropped the flow's packets to 172.24.0.1:443 before "
                                             "conntrack made them an entry (NETFILTER_DROP): conntrack's table "
                                             "is full") &&
                               Catch::Contains("nf_conntrack_max"));

  f.reply_ns = 1 * kMs;  // a reply came back: the drop was of the reply
  CHECK_FALSE(explain_dropped_here(gather_evidence(f, routing, kDropNames)));
  Flow no_drops = incident_flow();
  CHECK_FALSE(explain_dropped_here(gather_evidence(no_drops, routing, {})));
}

TEST_CASE("explain_unreachable: an ICMP net or host unreachable, named by its sender", "[explain]") {
  FakeRouting routing;
  Flow f = refused_flow(1);  // host unreachable
  f.icmp_from = ip("10.0.0.8");
  auto d = explain_unreachable(gather_evidence(f, routing, {}));
  REQUIRE(d);
  CHECK(d->verdict == Verdict::Unreachable);
  CHECK(d->answered_by == "ICMP host unreachable from 10.0.0.8");
  CHECK(d->reason == "10.0.0.8 itself answered ICMP host unreachable");
  CHECK(d->fix.empty());

  Flow port = refused_flow(3);  // port unreachable: the backend refusing, not a missing route
  CHECK_FALSE(explain_unreachable(gather_evidence(port, routing, {})));
}

TEST_CASE("explain_refused: a reset or an ICMP error from the backend", "[explain]") {
  FakeRouting routing;
  Flow rst = refused_flow();
  auto d = explain_refused(gather_evidence(rst, routing, {}));
  REQUIRE(d);
  CHECK(d->verdict == Verdict::Refused);
  CHECK(d->answered_by == "rst");
  CHECK(d->fix.empty());
  CHECK(d->reason == "the backend 10.0.0.8:6443 answered with a reset: nothing listens there, or it refuses this "
                     "client");

  Flow port = refused_flow(3);
  d = explain_refused(gather_evidence(port, routing, {}));
  REQUIRE(d);
  CHECK(d->answered_by == "icmp type 3 code 3");
  CHECK_THAT(d->reason, Catch::Contains("(icmp type 3 code 3, port unreachable)"));

  Flow unanswered = incident_flow();
  CHECK_FALSE(explain_refused(gather_evidence(unanswered, routing, {})));
}

TEST_CASE("explain_reply_dropped: the route fix when the wrong source brought the reply, else rp_filter's",
          "[explain]") {
  FakeRouting routing;
  Flow f = dropped_flow(16, 3);
  f.reply_ns = 1 * kMs;
  f.reply_ifindex = 3;
  auto d = explain_reply_dropped(gather_evidence(f, routing, kDropNames), routing, kCidrs);
  REQUIRE(d);
  CHECK(d->verdict == Verdict::ReplyDropped);
  REQUIRE(d->source_route);
  CHECK(format_route(*d->source_route) == "default via 10.141.13.1 dev enslf1");
  CHECK(d->fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12");
  CHECK_THAT(d->reason, Catch::StartsWith("the reply from 10.0.0.8:6443 arrived on enslf1 and the kernel dropped it "
                                          "(IP_RPFILTER): rp_filter on enslf1 expects 10.0.0.8 on another device") &&
                            Catch::EndsWith("because source 10.141.13.182 belongs to enslf1"));

  f.key.src = ip("10.0.0.12");  // the right source: rp_filter alone
  d = explain_reply_dropped(gather_evidence(f, routing, kDropNames), routing, kCidrs);
  REQUIRE(d);
  CHECK_FALSE(d->source_route);
  CHECK(d->fix == "sysctl -w net.ipv4.conf.enslf1.rp_filter=2");

  Flow not_back = dropped_flow(16, 3);  // dropped, but no reply came
  CHECK_FALSE(explain_reply_dropped(gather_evidence(not_back, routing, kDropNames), routing, kCidrs));
}

TEST_CASE("explain_asymmetric_source: the route that chose the source, and its fix", "[explain]") {
  FakeRouting routing;
  Flow f = incident_flow();
  auto d = explain_asymmetric_source(gather_evidence(f, routing, {}), routing, kCidrs);
  REQUIRE(d);
  CHECK(d->verdict == Verdict::AsymmetricSource);
  REQUIRE(d->source_route);
  CHECK(format_route(*d->source_route) == "default via 10.141.13.1 dev enslf1");
  CHECK(d->fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12");
  CHECK(d->reason == "source 10.141.13.182 was chosen by the route to the service IP 172.24.0.1, but after DNAT the "
                     "packet leaves enslf0, whose address is 10.0.0.12; the backend cannot answer 10.141.13.182");

  // Fixed since the flow started: the service IP gets enslf0's address now; no route named, no fix.
  routing.route_get_by_ip["172.24.0.1"].prefsrc = ip("10.0.0.12");
  d = explain_asymmetric_source(gather_evidence(f, routing, {}), routing, kCidrs);
  REQUIRE(d);
  CHECK_FALSE(d->source_route);
  CHECK(d->fix.empty());
  CHECK_THAT(d->reason, Catch::Contains("the routing has changed since: connections to 172.24.0.1 now get source "
                                        "10.0.0.12"));

  Flow right = incident_flow();
  right.key.src = ip("10.0.0.12");
  CHECK_FALSE(explain_asymmetric_source(gather_evidence(right, routing, {}), routing, kCidrs));
}

TEST_CASE("explain_not_dnatted: a flow of this node's that no DNAT rule took", "[explain]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.dnat_ip.reset();
  auto d = explain_not_dnatted(gather_evidence(f, routing, {}));
  REQUIRE(d);
  CHECK(d->verdict == Verdict::NotDnatted);
  CHECK(d->fix.empty());
  CHECK(d->reason == "no DNAT happened for 172.24.0.1:443: its packets went to the service IP itself, out enslf0; "
                     "the service's NAT rules (kube-proxy's) are missing in this namespace");

  f.ingress_ifindex = 7;  // forwarded from a pod: explain_unanswered's
  CHECK_FALSE(explain_not_dnatted(gather_evidence(f, routing, {})));
  Flow dnatted = incident_flow();
  CHECK_FALSE(explain_not_dnatted(gather_evidence(dnatted, routing, {})));
  // No packet of it was seen after NAT (before 6.4, one that never reached the driver): it may have
  // been DNAT'd.
  Flow unseen = incident_flow();
  unseen.dnat_ip.reset();
  unseen.nat_seen = false;
  CHECK_FALSE(explain_not_dnatted(gather_evidence(unseen, routing, {})));
}

TEST_CASE("explain_unanswered: what is left, with what was ruled out", "[explain]") {
  FakeRouting routing;
  routing.names[7] = "cni0";
  Flow f = incident_flow();
  f.key.src = ip("10.0.0.12");
  Diagnosis d = explain_unanswered(gather_evidence(f, routing, {}));
  CHECK(d.verdict == Verdict::Unanswered);
  CHECK(d.fix.empty());
  CHECK(d.reason == "10.0.0.8:6443 did not answer (backend down, or filtered on the way); ruled out: the source "
                    "(10.0.0.12 belongs to enslf0), the NAT (DNAT to 10.0.0.8 happened), drops on this node (none "
                    "seen), ICMP errors (none came back)");

  Flow pod = incident_flow();
  pod.key.src = ip("10.244.0.2");
  pod.ingress_ifindex = 7;
  CHECK_THAT(explain_unanswered(gather_evidence(pod, routing, {})).reason,
             Catch::StartsWith("forwarded from 10.244.0.2 (in by cni0) without SNAT: 10.0.0.8 must route its reply"));
  pod.snat_ip = ip("10.0.0.12");
  pod.dnat_ip.reset();
  CHECK_THAT(explain_unanswered(gather_evidence(pod, routing, {})).reason,
             Catch::StartsWith("no DNAT was seen for 172.24.0.1:443: the service IP itself got no answer"));
}
