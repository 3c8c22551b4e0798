// A held flow's slot (svctrace/events.h) gives back, byte for byte, the records streaming would have
// sent: the same functions make them in the kernel and in userspace (capture/held_flows.cpp).
#include <catch2/catch.hpp>

#include <cstring>

#include "synthetic_events.h"

using namespace test;

namespace {
// The incident's flow as streaming sends it: its route, looked up before the source and port were
// picked (both zero), and its first packet at POST_ROUTING, DNAT'd to 10.0.0.8:6443, leaving by device
// 2 after the route to the service IP had pointed at device 3.
const svc_tuple kFlow = tuple("10.141.13.182", 52946, "172.24.0.1", 443);
const svc_tuple kReply = tuple("10.0.0.8", 6443, "10.141.13.182", 52946);

svc_event streamed_route() {
  svc_event e = route(1000, tuple("0.0.0.0", 0, "172.24.0.1", 443), 254, 3, "10.141.13.1", 4242, "curl");
  put_ip(e.route.nh_saddr, "10.141.13.182");
  return e;
}

svc_event streamed_nat() {
  svc_event e = nat(2000, kFlow, kReply, SVC_NAT_POST_ROUTING, 2, 3);
  e.nat.ct_status = 0x188;
  return e;
}

// The slot as the kernel fills it from what it saw (bpf/lib/held.bpf.h's hold_flow and
// take_staged_route), over the bytes of the flow that held it before.
svc_held_flow held(const svc_event& r, const svc_event& n) {
  svc_held_flow h;
  std::memset(&h, 0xab, sizeof h);
  h.netns = n.netns;
  h.left_ts = n.ts_ns;
  h.ingress_ts = 0;
  h.answered_ns = 0;
  h.tuple = n.tuple;
  h.reply = n.nat.reply;
  h.out_ifindex = n.nat.out_ifindex;
  h.route_ifindex = n.nat.route_ifindex;
  h.ct_status = n.nat.ct_status;
  h.ingress_ifindex = 0;
  h.route_ts = r.ts_ns;
  h.route_pid = r.pid;
  h.route_sport = r.tuple.sport;
  std::memcpy(h.route_src, r.tuple.src, 16);
  std::memcpy(h.route_comm, r.comm, SVC_COMM_LEN);
  h.route = r.route;
  h.has_route = 1;
  h.state = SVC_HELD;
  return h;
}

template <class Make>
svc_event made(Make make, const svc_held_flow& h) {
  svc_event e;
  std::memset(&e, 0xff, sizeof e);  // whatever the ring buffer's memory held
  make(&e, &h);
  return e;
}

bool same(const svc_event& a, const svc_event& b) { return std::memcmp(&a, &b, sizeof a) == 0; }
}  // namespace

TEST_CASE("a held flow's slot gives back its streamed NAT and route records, byte for byte") {
  const svc_held_flow h = held(streamed_route(), streamed_nat());
  CHECK(same(made(svc_held_nat_record, h), streamed_nat()));
  CHECK(same(made(svc_held_route_record, h), streamed_route()));
}

TEST_CASE("a forwarded held flow's PRE_ROUTING record has the time and device it came in by") {
  svc_held_flow h = held(streamed_route(), streamed_nat());
  h.ingress_ts = 1500;
  h.ingress_ifindex = 7;
  svc_event expected = nat(1500, kFlow, kReply, SVC_NAT_PRE_ROUTING, 7, 0);
  expected.nat.ct_status = 0x188;
  CHECK(same(made(svc_ingress_record, h), expected));
}
