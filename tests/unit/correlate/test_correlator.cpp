#include <catch2/catch.hpp>
#include <cerrno>

#include "synthetic_events.h"
#include "correlate/correlator.h"
#include "fake_routing.h"
#include "report/output.h"

using namespace svctrace;
using namespace test;

namespace {
const svc_tuple kOrig = tuple("10.141.13.182", 52946, "172.24.0.1", 443);
// What conntrack expects back after DNAT to 10.0.0.8:6443 (no SNAT).
const svc_tuple kReply = tuple("10.0.0.8", 6443, "10.141.13.182", 52946);
constexpr int kEnslf0 = 2, kEnslf1 = 3;

Correlator make(size_t max_flows = 1024) { return Correlator({max_flows, 1500 * kMs, 4242}); }

// connect(): the route lookup for the whole flow, then the SYN leaving (POST_ROUTING, with the device
// LOCAL_OUT saw).
void connect_and_syn(Correlator& c, uint64_t t) {
  c.on_event(route(t, kOrig, 254, kEnslf1, "10.141.13.1"));
  c.on_event(nat(t + 10, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
}

FlowKey key_of(const svc_tuple& t) { return FlowKey::from_tuple(kNetns, t); }
}  // namespace

TEST_CASE("a SYN that is retransmitted is unanswered, with route, DNAT and egress joined", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 1000 * kMs);
  auto changes = c.tick(1001 * kMs);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == Correlator::Change::NewFlow);

  c.on_event(nat(2000 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  c.on_event(retransmit(2000 * kMs, kOrig));
  changes = c.tick(2001 * kMs);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == Correlator::Change::Decided);

  const Flow* f = c.find(key_of(kOrig));
  REQUIRE(f);
  CHECK(f->state == FlowState::Unanswered);
  CHECK(f->syns() == 2);
  CHECK(f->retransmits == 1);
  CHECK(f->nat_seen);
  REQUIRE(f->dnat_ip);
  CHECK(f->dnat_ip->str() == "10.0.0.8");
  CHECK(f->dnat_port == 6443);
  CHECK_FALSE(f->snat_ip);
  CHECK(f->route_ifindex == kEnslf1);
  CHECK(f->egress_ifindex == kEnslf0);
  REQUIRE(f->route);
  CHECK(f->route->table == 254);
  CHECK(f->route->gateway.str() == "10.141.13.1");
  CHECK(f->pid == 100);
  CHECK(f->comm == "curl");
  CHECK(f->first_seen_ns == 1000 * kMs + 10);  // the first packet
  CHECK(f->decided_ns == 2000 * kMs);
}

TEST_CASE("a flow with no retransmit seen is unanswered once the backstop age passes", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);  // first packet at 10 ns
  c.tick(1500 * kMs);
  CHECK(c.find(key_of(kOrig))->state == FlowState::Pending);
  auto changes = c.tick(1500 * kMs + 10);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == Correlator::Change::Decided);
  CHECK(c.find(key_of(kOrig))->state == FlowState::Unanswered);
}

TEST_CASE("an established connection is answered and never becomes unanswered", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(tcp_state(1 * kMs, kOrig, 1 /* ESTABLISHED */));
  c.tick(10'000 * kMs);
  CHECK(c.find(key_of(kOrig))->state == FlowState::Answered);
}

TEST_CASE("a reset is refused, a close after ETIMEDOUT is unanswered, an early close is abandoned", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(tcp_state(1 * kMs, kOrig, 7 /* CLOSE */, ECONNREFUSED));
  CHECK(c.find(key_of(kOrig))->state == FlowState::Refused);

  svc_tuple t2 = tuple("10.0.0.12", 4000, "172.24.0.1", 443);
  c.on_event(tcp_state(5 * kMs, t2, 7, ETIMEDOUT));
  CHECK(c.find(key_of(t2))->state == FlowState::Unanswered);

  svc_tuple t3 = tuple("10.0.0.12", 4001, "172.24.0.1", 443);
  c.on_event(nat(10 * kMs, t3, tuple("10.0.0.8", 6443, "10.0.0.12", 4001), SVC_NAT_POST_ROUTING, kEnslf0));
  c.on_event(tcp_state(300 * kMs, t3, 7, 0));
  CHECK(c.find(key_of(t3))->state == FlowState::Abandoned);
}

TEST_CASE("a late answer overrides unanswered, nothing overrides refused", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(retransmit(1000 * kMs, kOrig));
  c.on_event(tcp_state(3000 * kMs, kOrig, 1));
  CHECK(c.find(key_of(kOrig))->state == FlowState::Answered);

  svc_tuple t2 = tuple("10.0.0.12", 4000, "172.24.0.1", 443);
  c.on_event(tcp_state(5 * kMs, t2, 7, ECONNREFUSED));
  c.on_event(tcp_state(6 * kMs, t2, 1));
  CHECK(c.find(key_of(t2))->state == FlowState::Refused);
}

TEST_CASE("SNAT is recorded from the reply tuple", "[correlator]") {
  Correlator c = make();
  svc_tuple reply = tuple("10.0.0.8", 6443, "10.0.0.12", 61000);  // masqueraded to 10.0.0.12:61000
  c.on_event(nat(0, kOrig, reply, SVC_NAT_POST_ROUTING, kEnslf0));
  const Flow* f = c.find(key_of(kOrig));
  REQUIRE(f->snat_ip);
  CHECK(f->snat_ip->str() == "10.0.0.12");
  CHECK(f->snat_port == 61000);
}

TEST_CASE("flows are keyed by network namespace too", "[correlator]") {
  Correlator c = make();
  c.on_event(nat(0, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0));
  svc_event other = nat(0, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0);
  other.netns = kNetns + 1;
  c.on_event(other);
  CHECK(c.flows().size() == 2);
}

TEST_CASE("svctrace's own route lookups are not attributed to flows", "[correlator]") {
  Correlator c = make();
  c.on_event(route(0, tuple("0.0.0.0", 0, "172.24.0.1", 0), 254, kEnslf1, "10.141.13.1", 4242, "svctrace"));
  c.on_event(nat(10, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0));
  const Flow* f = c.find(key_of(kOrig));
  CHECK_FALSE(f->route);
  CHECK(f->pid == 0);
}

TEST_CASE("the flow table is bounded and counts what it evicts", "[correlator]") {
  Correlator c = make(16);
  for (uint16_t port = 1; port <= 20; port++) {
    // each to its own backend: 20 causes
    svc_tuple t = tuple("10.0.0.12", port, "172.24.0.1", 443);
    c.on_event(nat(port * kMs, t, tuple("10.0.0.8", port, "10.0.0.12", port), SVC_NAT_POST_ROUTING, kEnslf0));
  }
  CHECK(c.flows().size() == 16);
  CHECK(c.evicted() == 4);
  CHECK(c.joined() == 0);
  CHECK(c.lost_undecided() == 4);  // no two of one cause: the oldest went
  CHECK_FALSE(c.find(key_of(tuple("10.0.0.12", 1, "172.24.0.1", 443))));
  CHECK(c.find(key_of(tuple("10.0.0.12", 20, "172.24.0.1", 443))));
  CHECK(c.events() == 20);
}

TEST_CASE("a flood of one cause cannot evict another cause's undecided flow: its flows join the first",
          "[correlator]") {
  // Told of each undecided flow evicted, and which flow it joined (--pcap moves its packets there).
  size_t told_joined_first = 0, told_lost = 0;
  const FlowKey first_key = key_of(tuple("10.0.0.12", 1, "172.24.0.1", 443));
  CorrelatorConfig cfg{16, 1500 * kMs, 4242};
  cfg.on_undecided_evicted = [&](const FlowKey&, const FlowKey* into) {
    if (!into) told_lost++;
    else if (*into == first_key) told_joined_first++;
  };
  Correlator c(cfg);
  auto syn = [&](uint16_t port, const char* backend, uint64_t t) {
    svc_tuple o = tuple("10.0.0.12", port, "172.24.0.1", 443);
    c.on_event(nat(t, o, tuple(backend, 6443, "10.0.0.12", port), SVC_NAT_POST_ROUTING, kEnslf0));
  };
  for (uint16_t port = 1; port <= 10; port++) syn(port, "10.0.0.8", port * kMs);
  syn(500, "10.0.0.9", 11 * kMs);  // another backend: another cause, in the middle of the flood
  for (uint16_t port = 11; port <= 100; port++) syn(port, "10.0.0.8", (port + 1) * kMs);

  CHECK(c.flows().size() == 16);
  CHECK(c.evicted() == 85);
  CHECK(c.joined() == 85);  // every flow evicted is counted in a flow of its cause
  CHECK(c.lost_undecided() == 0);
  const Flow* first = c.find(key_of(tuple("10.0.0.12", 1, "172.24.0.1", 443)));
  REQUIRE(first);
  CHECK(first->joined == 85);
  CHECK(told_joined_first == 85);
  CHECK(told_lost == 0);
  CHECK(c.find(key_of(tuple("10.0.0.12", 500, "172.24.0.1", 443))));  // the other cause's flow stays
  CHECK(c.find(key_of(tuple("10.0.0.12", 100, "172.24.0.1", 443))));  // and the latest of the flood

  // Decided, the first carries the joined ones; a decided flow is the first to make room next.
  c.tick(2000 * kMs);
  CHECK(first->state == FlowState::Unanswered);
  syn(101, "10.0.0.8", 2001 * kMs);
  CHECK_FALSE(c.find(key_of(tuple("10.0.0.12", 1, "172.24.0.1", 443))));
  CHECK(c.joined() == 85);
  CHECK(told_joined_first + told_lost == 85);  // a decided flow leaves untold
}

namespace {
const svc_tuple kUdp = tuple("10.141.13.182", 40000, "172.24.0.10", 53, IPPROTO_UDP);
const svc_tuple kUdpReply = tuple("10.0.0.8", 5353, "10.141.13.182", 40000, IPPROTO_UDP);
}  // namespace

TEST_CASE("a UDP reply answers the flow once the grace period passes without a drop", "[correlator]") {
  Correlator c = make();
  c.on_event(nat(0, kUdp, kUdpReply, SVC_NAT_POST_ROUTING, kEnslf0));
  c.on_event(reply(5 * kMs, kUdp, kEnslf0, 3, 0));
  c.tick(54 * kMs);
  CHECK(c.find(key_of(kUdp))->state == FlowState::Pending);
  c.tick(56 * kMs);
  const Flow* f = c.find(key_of(kUdp));
  CHECK(f->state == FlowState::Answered);
  CHECK(f->decided_ns == 5 * kMs);
  CHECK(f->reply_ifindex == kEnslf0);
}

TEST_CASE("a UDP query with no reply is unanswered by timeout", "[correlator]") {
  Correlator c = make();
  c.on_event(nat(0, kUdp, kUdpReply, SVC_NAT_POST_ROUTING, kEnslf0));
  c.tick(1500 * kMs);
  CHECK(c.find(key_of(kUdp))->state == FlowState::Unanswered);
}

TEST_CASE("a reply the kernel drops does not answer the flow, and the drop is kept", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(reply(1 * kMs, kOrig, kEnslf1));
  c.on_event(drop(1 * kMs + 5, kOrig, kEnslf1, 16, 3 /* ESTABLISHED_REPLY */));
  c.tick(100 * kMs);
  const Flow* f = c.find(key_of(kOrig));
  CHECK(f->state == FlowState::Pending);
  CHECK(f->drops == 1);
  CHECK(f->drop_reason == 16);
  CHECK(f->drop_ifindex == kEnslf1);
  c.on_event(retransmit(1000 * kMs, kOrig));
  CHECK(c.find(key_of(kOrig))->state == FlowState::Unanswered);
}

TEST_CASE("a reply dropped before any hook reported it is the flow's reply, on the drop's device",
          "[correlator]") {
  // Kernels before 6.4 have no hook that reports replies: an rp_filter drop of the SYN-ACK is all
  // that shows it came back.
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(drop(1 * kMs, kOrig, kEnslf1, 16, 3 /* ESTABLISHED_REPLY */));
  c.on_event(retransmit(1000 * kMs, kOrig));
  const Flow* f = c.find(key_of(kOrig));
  CHECK(f->state == FlowState::Unanswered);
  CHECK(f->reply_ns == 1 * kMs);
  CHECK(f->reply_ifindex == kEnslf1);
  CHECK(f->drops == 1);
}

TEST_CASE("a packet freed after the flow was answered is not counted as its drop", "[correlator]") {
  // Every answered connect showed "1 dropped" (NOT_SPECIFIED, on the egress device) from its closing
  // exchange (issue 15, item 5).
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(tcp_state(1 * kMs, kOrig, 1 /* ESTABLISHED */));
  c.on_event(drop(5 * kMs, kOrig, kEnslf0, 2 /* NOT_SPECIFIED */, 0 /* ESTABLISHED */));
  const Flow* f = c.find(key_of(kOrig));
  CHECK(f->state == FlowState::Answered);
  CHECK(f->drops == 0);
  CHECK(f->drop_reason == 0);
}

TEST_CASE("a SYN dropped on its way out is no reply", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(drop(1 * kMs, kOrig, kEnslf0, 3 /* NETFILTER_DROP */));
  CHECK(c.find(key_of(kOrig))->reply_ns == 0);
}

TEST_CASE("an ICMP error or a RST in reply is refused", "[correlator]") {
  Correlator c = make();
  c.on_event(nat(0, kUdp, kUdpReply, SVC_NAT_POST_ROUTING, kEnslf0));
  svc_event icmp = reply(2 * kMs, kUdp, kEnslf0, 4 /* RELATED_REPLY */, 0);
  icmp.reply.icmp_type = 3;
  icmp.reply.icmp_code = 3;
  c.on_event(icmp);
  const Flow* f = c.find(key_of(kUdp));
  CHECK(f->state == FlowState::Refused);
  CHECK(f->icmp_error);
  CHECK(f->icmp_code == 3);

  c.on_event(nat(0, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0));
  c.on_event(reply(1 * kMs, kOrig, kEnslf0, 3, 0x14 /* RST|ACK */));
  CHECK(c.find(key_of(kOrig))->state == FlowState::Refused);
}

TEST_CASE("a flow first seen at PRE_ROUTING is forwarded, one that passed LOCAL_OUT is local", "[correlator]") {
  Correlator c = make();
  svc_tuple pod = tuple("10.244.0.2", 5000, "172.24.0.1", 443);
  svc_tuple pod_reply = tuple("10.0.0.8", 6443, "10.244.0.2", 5000);
  constexpr int kCni0 = 7;
  c.on_event(nat(0, pod, pod_reply, SVC_NAT_PRE_ROUTING, kCni0));
  c.on_event(nat(1, pod, pod_reply, SVC_NAT_POST_ROUTING, kEnslf0));
  const Flow* f = c.find(key_of(pod));
  CHECK(f->forwarded());
  CHECK(f->ingress_ifindex == kCni0);

  CHECK(f->route_ifindex == 0);

  // A pod's connection to an IPVS service: IPVS takes it at LOCAL_IN and sends it on through
  // LOCAL_OUT, so its POST_ROUTING event has a LOCAL_OUT device too. It is still forwarded.
  svc_tuple to_ipvs = tuple("10.244.0.2", 5001, "172.24.0.1", 443);
  c.on_event(nat(2, to_ipvs, tuple("172.24.0.1", 443, "10.244.0.2", 5001), SVC_NAT_PRE_ROUTING, kCni0));
  c.on_event(nat(3, to_ipvs, tuple("10.0.0.8", 6443, "10.244.0.2", 5001), SVC_NAT_POST_ROUTING, kEnslf0, kEnslf0));
  CHECK(c.find(key_of(to_ipvs))->forwarded());
  CHECK(c.find(key_of(to_ipvs))->dnat_ip->str() == "10.0.0.8");

  c.on_event(nat(0, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  CHECK_FALSE(c.find(key_of(kOrig))->forwarded());
  CHECK(c.find(key_of(kOrig))->local);
  CHECK(c.find(key_of(kOrig))->route_ifindex == kEnslf1);
}

TEST_CASE("a reply to an unknown flow is ignored, a drop of a new one makes the flow known", "[correlator]") {
  Correlator c = make();
  c.on_event(reply(0, kOrig, kEnslf0));
  CHECK(c.flows().empty());
  // A drop of a reply, or of a packet conntrack has an answered entry for, is of a flow that left
  // the table (evicted, or answered long ago): nothing to diagnose.
  c.on_event(drop(2, kOrig, kEnslf0, 3, 3 /* ESTABLISHED_REPLY */));
  c.on_event(drop(3, kOrig, kEnslf0, 3, SVC_CTINFO_INVALID));
  c.on_event(drop(4, kOrig, kEnslf0, 3, 0 /* ESTABLISHED */));
  CHECK(c.flows().empty());
  // A SYN a local REJECT dropped never reached POST_ROUTING: its drop is all there is.
  c.on_event(drop(5, kOrig, 0, 3));
  REQUIRE(c.flows().size() == 1);
  CHECK(c.find(key_of(kOrig))->drops == 1);
}

TEST_CASE("a new connection on an answered flow's tuple is a flow of its own, diagnosed when unanswered",
          "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(reply(1 * kMs, kOrig, kEnslf0));
  c.on_event(tcp_state(1 * kMs, kOrig, 1 /* ESTABLISHED */));
  c.tick(100 * kMs);
  REQUIRE(c.find(key_of(kOrig))->state == FlowState::Answered);

  // The client's ports wrapped: the same tuple again, by another route, and no answer this time.
  uint64_t t = 60'000 * kMs;
  c.on_event(route(t, kOrig, 100, kEnslf0, "10.0.0.1"));
  c.on_event(nat(t + 10, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf0));
  const Flow* f = c.find(key_of(kOrig));
  REQUIRE(f);
  CHECK(f->state == FlowState::Pending);
  CHECK(f->first_seen_ns == t + 10);
  CHECK(f->reply_ns == 0);
  REQUIRE(f->route);
  CHECK(f->route->table == 100);  // the new connect()'s lookup, not the old flow's

  c.on_event(nat(t + 1000 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf0));
  c.on_event(retransmit(t + 1000 * kMs, kOrig));
  auto changes = c.tick(t + 1001 * kMs);
  REQUIRE(changes.size() == 2);
  CHECK(changes[1].kind == Correlator::Change::Decided);
  REQUIRE(changes[1].flow);
  CHECK(changes[1].flow->state == FlowState::Unanswered);
  CHECK(changes[1].flow->syns() == 2);
  CHECK(c.flows().size() == 1);
}

TEST_CASE("a diagnosed flow stays in the report after a new connection takes its tuple", "[correlator]") {
  Correlator c = make();
  // Unanswered and diagnosed; the client gives up; conntrack keeps the unanswered entry, and a later
  // connect() that got the same port is its packets again, a new flow.
  connect_and_syn(c, 0);
  c.on_event(retransmit(1000 * kMs, kOrig));
  for (const auto& ch : c.tick(1001 * kMs))
    if (ch.kind == Correlator::Change::Decided) c.set_verdict(*ch.flow, "asymmetric_source");
  c.on_event(tcp_state(2000 * kMs, kOrig, 7 /* CLOSE */));
  c.on_event(nat(5000 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf0));
  c.on_event(retransmit(6000 * kMs, kOrig));
  // This one is replaced before the tick that hands out its verdict: kept once it is diagnosed.
  c.on_event(tcp_state(7000 * kMs, kOrig, 7 /* CLOSE */));
  c.on_event(nat(8000 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf0));
  for (const auto& ch : c.tick(8001 * kMs))
    if (ch.kind == Correlator::Change::Decided) c.set_verdict(*ch.flow, "asymmetric_source");
  c.tick(8002 * kMs);
  CHECK(c.replaced() == 2);
  std::vector<const Flow*> flows = c.flows();
  REQUIRE(flows.size() == 3);
  CHECK(c.listed_count() == 3);
  CHECK(flows[0]->first_seen_ns < flows[1]->first_seen_ns);
  CHECK(flows[1]->first_seen_ns == 5000 * kMs);
  CHECK(flows[2]->first_seen_ns == 8000 * kMs);
  CHECK(flows[0]->verdict == "asymmetric_source");
  CHECK(flows[1]->verdict == "asymmetric_source");
  CHECK(flows[2]->state == FlowState::Pending);
}

TEST_CASE("a tuple reused before the old flow left the queues is decided on its own clock", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(reply(1 * kMs, kOrig, kEnslf0));  // in its grace period until 51 ms
  // Before any tick, the socket is done and the tuple is used again: the old flow's places in the
  // queues must not decide the new one.
  c.on_event(tcp_state(2 * kMs, kOrig, 7 /* CLOSE */));
  c.on_event(nat(20 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  c.tick(100 * kMs);
  const Flow* f = c.find(key_of(kOrig));
  REQUIRE(f);
  CHECK(f->state == FlowState::Pending);  // not answered by the old flow's reply
  c.tick(20 * kMs + 1499 * kMs);
  CHECK(c.find(key_of(kOrig))->state == FlowState::Pending);
  c.tick(20 * kMs + 1500 * kMs);
  CHECK(c.find(key_of(kOrig))->state == FlowState::Unanswered);
  CHECK(c.flows().size() == 1);
}

TEST_CASE("a flow replaced before tick keeps its own changes, and the new one has its own", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(reply(1 * kMs, kOrig, kEnslf0, 3, 0x14 /* RST|ACK */));  // refused at once
  // Retried from the same bound port 30 ms later, before the caller's next tick.
  c.on_event(nat(30 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  auto changes = c.tick(40 * kMs);
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].kind == Correlator::Change::NewFlow);
  CHECK(changes[1].kind == Correlator::Change::Decided);
  REQUIRE(changes[1].flow);
  CHECK(changes[1].flow->state == FlowState::Refused);  // the old flow's verdict, not the new one's
  CHECK(changes[1].flow->first_seen_ns == 10);
  CHECK(changes[2].kind == Correlator::Change::NewFlow);
  REQUIRE(changes[2].flow);
  CHECK(changes[2].flow->state == FlowState::Pending);
  CHECK(changes[2].flow->first_seen_ns == 30 * kMs);
  CHECK(c.replaced() == 1);
}

TEST_CASE("a SYN dropped before it left, on an answered flow's tuple, is a new flow's", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(tcp_state(1 * kMs, kOrig, 1 /* ESTABLISHED */));
  c.tick(100 * kMs);
  // The service lost its endpoints: a REJECT in OUTPUT drops the next SYN on the same tuple.
  c.on_event(drop(60'000 * kMs, kOrig, 0, 3 /* NETFILTER_DROP */));
  c.on_event(tcp_state(60'000 * kMs + 1, kOrig, 7 /* CLOSE */, ECONNREFUSED));
  const Flow* f = c.find(key_of(kOrig));
  REQUIRE(f);
  CHECK(f->state == FlowState::Refused);
  CHECK(f->drops == 1);
  CHECK(c.replaced() == 1);
}

TEST_CASE("a flow found in conntrack at start is not replaced by its own first packet, read late", "[correlator]") {
  Correlator c = make();
  // Tracing began at 50 ms; the conntrack dump at 100 ms found the flow answered; its first packet,
  // from 60 ms, is read from the ring only now.
  c.add_existing(key_of(kOrig), IpAddr::parse("10.0.0.8"), 6443, std::nullopt, 0, true, 100 * kMs);
  c.on_event(nat(60 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  REQUIRE(c.flows().size() == 1);
  CHECK(c.flows()[0]->preexisting);
  CHECK(c.flows()[0]->state == FlowState::Answered);
  CHECK(c.replaced() == 0);
}

TEST_CASE("a flow from before the start with no reply is unanswered by conntrack's word, failing now only if it "
          "still sends", "[correlator]") {
  Correlator c = make();
  c.add_existing(key_of(kOrig), IpAddr::parse("10.0.0.8"), 6443, std::nullopt, 0, false, 100 * kMs);
  const Flow* f = c.find(key_of(kOrig));
  REQUIRE(f);
  CHECK(f->preexisting);
  CHECK(f->state == FlowState::Unanswered);
  CHECK(f->decided_ns == 100 * kMs);  // not timed by svctrace's own wait
  // A SYN of it from before the table was read, read late, is the past.
  c.on_event(nat(60 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  CHECK(c.preexisting_still_failing() == 0);
  // Its retransmitted SYN leaving now: failing now.
  c.on_event(nat(1100 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  c.on_event(retransmit(1100 * kMs, kOrig));
  CHECK(c.preexisting_still_failing() == 1);
  // Answered at last: no longer failing.
  c.on_event(tcp_state(1200 * kMs, kOrig, 1 /* ESTABLISHED */));
  CHECK(c.find(key_of(kOrig))->state == FlowState::Answered);
  CHECK(c.preexisting_still_failing() == 0);
}

TEST_CASE("after an ICMP error the SYNs still going out are the same flow's", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  svc_event icmp = reply(2 * kMs, kOrig, kEnslf0, 4 /* RELATED_REPLY */, 0);
  icmp.reply.icmp_type = 3;
  icmp.reply.icmp_code = 1;  // host unreachable: a soft error, TCP keeps trying
  c.on_event(icmp);
  c.on_event(nat(1000 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  const Flow* f = c.find(key_of(kOrig));
  REQUIRE(f);
  CHECK(f->state == FlowState::Refused);
  CHECK(f->icmp_error);
  CHECK(f->syns() == 2);
}

TEST_CASE("concurrent connects to one service are attributed by their exact lookup", "[correlator]") {
  Correlator c = make();
  svc_tuple a = tuple("10.141.13.182", 1111, "172.24.0.1", 443);
  svc_tuple b = tuple("10.141.13.182", 2222, "172.24.0.1", 443);
  // Each process's lookup once its port is chosen (the kernel side does not send the portless first one).
  c.on_event(route(2, a, 254, kEnslf1, "10.141.13.1", 10, "kubelet"));
  c.on_event(route(3, b, 254, kEnslf1, "10.141.13.1", 20, "curl"));
  c.on_event(nat(4, a, tuple("10.0.0.8", 6443, "10.141.13.182", 1111), SVC_NAT_POST_ROUTING, kEnslf0));
  c.on_event(nat(5, b, tuple("10.0.0.8", 6443, "10.141.13.182", 2222), SVC_NAT_POST_ROUTING, kEnslf0));
  CHECK(c.find(key_of(a))->comm == "kubelet");
  CHECK(c.find(key_of(a))->pid == 10);
  CHECK(c.find(key_of(b))->comm == "curl");
  CHECK(c.find(key_of(b))->pid == 20);
}

TEST_CASE("a comm that is not UTF-8 is printed, not thrown on", "[output]") {
  test::FakeRouting names;
  Flow f;
  f.key = FlowKey::from_tuple(1, test::tuple("10.0.0.12", 40000, "172.24.0.1", 443));
  f.comm = "bad\xff\xfe";  // prctl(PR_SET_NAME) takes any bytes
  std::string text;
  REQUIRE_NOTHROW(text = json_text(flow_json(f, names)));
  CHECK_THAT(text, Catch::Contains("bad\xef\xbf\xbd"));  // U+FFFD
}

TEST_CASE("a flow keeps the times of its first kMaxFlowTimes packets and retransmits, and counts on", "[correlator]") {
  Correlator c = make();
  for (uint64_t i = 0; i < kMaxFlowTimes + 5; i++) {
    c.on_event(nat(1000 * kMs + i * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
    c.on_event(retransmit(1000 * kMs + i * kMs, kOrig));
  }
  const Flow* f = c.find(key_of(kOrig));
  REQUIRE(f);
  CHECK(f->packet_ns.size() == kMaxFlowTimes);
  CHECK(f->retransmit_ns.size() == kMaxFlowTimes);
  CHECK(f->packet_ns.front() == 1000 * kMs);
  CHECK(f->packet_ns.back() == 1000 * kMs + (kMaxFlowTimes - 1) * kMs);
  CHECK(f->retransmits == kMaxFlowTimes + 5);
  CHECK(f->packets_unreplied == kMaxFlowTimes + 5);
}

TEST_CASE("a drop of an INVALID reply marks the flow, and its drop names the cause", "[correlator]") {
  Correlator c = make();
  connect_and_syn(c, 0);
  c.on_event(drop(1 * kMs, kOrig, 0, 77));  // an earlier drop of something else
  svc_event invalid = drop(2 * kMs, kOrig, kEnslf0, 5);
  invalid.reply.ctinfo = SVC_CTINFO_INVALID;
  c.on_event(invalid);
  const Flow* f = c.find(key_of(kOrig));
  CHECK(f->reply_invalid);
  CHECK(f->drops == 2);
  CHECK(f->drop_reason == 5);
  CHECK(f->drop_ifindex == kEnslf0);
}

TEST_CASE("a SYN dropped before conntrack made it an entry (its table full) starts its flow", "[correlator]") {
  Correlator c = make();
  c.on_event(route(0, kOrig, 254, kEnslf1, "10.141.13.1"));
  // No NAT event ever comes: conntrack dropped the SYN and its retransmit at LOCAL_OUT.
  c.on_event(drop(1 * kMs, kOrig, 0, 5, SVC_CTINFO_UNTRACKED));
  c.on_event(drop(1000 * kMs, kOrig, 0, 5, SVC_CTINFO_UNTRACKED));
  c.on_event(retransmit(1000 * kMs, kOrig));
  c.tick(1001 * kMs);
  const Flow* f = c.find(key_of(kOrig));
  REQUIRE(f);
  CHECK(f->untracked_drop);
  CHECK(f->drops == 2);
  CHECK(f->drop_reason == 5);
  CHECK_FALSE(f->nat_seen);
  CHECK(f->route);  // the connect's route, as for any flow
  CHECK(f->state == FlowState::Unanswered);
}

TEST_CASE("on a backend, a SYN whose answer found no route back is an incoming flow, unanswered by timeout",
          "[correlator]") {
  Correlator c = make();
  // The node's SYN as the api sees it; an input lookup for the api's address came first (a ROUTE event).
  const svc_tuple in = tuple("10.141.13.182", 52946, "10.0.0.8", 6443);
  c.on_event(route(0, tuple("10.141.13.182", 0, "10.0.0.8", 0, 0), 254, 5, nullptr, 0, "swapper/0"));
  c.on_event(route_back(1 * kMs, in, 5, 254, -EAGAIN));
  auto changes = c.tick(2 * kMs);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == Correlator::Change::NewFlow);
  c.on_event(route_back(1001 * kMs, in, 5, 254, -EAGAIN));  // the client's retransmit
  c.tick(1500 * kMs);
  const Flow* f = c.find(key_of(in));
  REQUIRE(f);
  CHECK(f->state == FlowState::Pending);
  c.tick(1502 * kMs);
  CHECK(f->state == FlowState::Unanswered);
  CHECK(f->inbound);
  CHECK_FALSE(f->forwarded());
  CHECK(f->arrival_ifindex == 5);
  CHECK(f->reply_route_missed_table == 254);
  CHECK(f->syns() == 2);
  CHECK_FALSE(f->route);  // the input lookup's route is not the route of a connect()
  CHECK(f->pid == 0);
}

TEST_CASE("on a backend, a route back found in a later rule's table answers the incoming flow", "[correlator]") {
  Correlator c = make();
  const svc_tuple in = tuple("10.141.13.182", 52946, "10.0.0.8", 6443);
  c.on_event(route_back(1 * kMs, in, 5, 100, -EAGAIN));
  c.on_event(route_back(1 * kMs + 500, in, 5, 254, 0));
  c.tick(5000 * kMs);
  const Flow* f = c.find(key_of(in));
  REQUIRE(f);
  CHECK(f->state == FlowState::Answered);
  CHECK(f->reply_route_missed_table == 100);
  // A route found for a flow never seen missing is nothing to report.
  const svc_tuple other = tuple("10.141.13.183", 40000, "10.0.0.8", 6443);
  c.on_event(route_back(2 * kMs, other, 5, 254, 0));
  CHECK_FALSE(c.find(key_of(other)));
}
