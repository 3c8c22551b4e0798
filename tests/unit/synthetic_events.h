// Builders of synthetic kernel events for the unit tests.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "svctrace/events.h"

namespace test {

inline void put_ip(uint8_t* dst16, const char* ip) {
  std::memset(dst16, 0, 16);
  inet_pton(AF_INET, ip, dst16);
}

inline svc_tuple tuple(const char* src, uint16_t sport, const char* dst, uint16_t dport,
                       uint8_t proto = IPPROTO_TCP) {
  svc_tuple t{};
  put_ip(t.src, src);
  put_ip(t.dst, dst);
  t.sport = sport;
  t.dport = dport;
  t.family = AF_INET;
  t.proto = proto;
  return t;
}

constexpr uint32_t kNetns = 4026532000;
constexpr uint64_t kMs = 1'000'000;

inline svc_event base(uint32_t kind, uint64_t ts, const svc_tuple& t, uint32_t netns = kNetns) {
  svc_event e{};
  e.kind = kind;
  e.ts_ns = ts;
  e.netns = netns;
  e.tuple = t;
  return e;
}

inline svc_event route(uint64_t ts, const svc_tuple& t, uint32_t table, int oif, const char* gw,
                       uint32_t pid = 100, const char* comm = "curl") {
  svc_event e = base(SVC_EV_ROUTE, ts, t);
  e.pid = pid;
  std::strncpy(e.comm, comm, sizeof e.comm);
  e.route.table = table;
  e.route.oif = oif;
  if (gw) {
    e.route.gw_family = AF_INET;
    put_ip(e.route.gw, gw);
  }
  return e;
}

// A packet of an unreplied conntrack entry at a NAT hook; reply is what conntrack expects back.
// route_ifindex: for POST_ROUTING of a local flow, the device LOCAL_OUT saw (the route to the service).
inline svc_event nat(uint64_t ts, const svc_tuple& orig, const svc_tuple& reply, uint32_t hook, int out,
                     int route_ifindex = 0) {
  svc_event e = base(SVC_EV_NAT, ts, orig);
  e.nat.reply = reply;
  e.nat.hook = hook;
  e.nat.out_ifindex = out;
  e.nat.route_ifindex = route_ifindex;
  return e;
}

inline svc_event tcp_state(uint64_t ts, const svc_tuple& t, int newstate, int sk_err = 0) {
  svc_event e = base(SVC_EV_TCP_STATE, ts, t);
  e.tcp.old_state = 2;  // SYN_SENT
  e.tcp.new_state = newstate;
  e.tcp.sk_err = sk_err;
  return e;
}

inline svc_event retransmit(uint64_t ts, const svc_tuple& t) {
  svc_event e = base(SVC_EV_TCP_RETRANS, ts, t);
  e.tcp.old_state = e.tcp.new_state = 2;
  return e;
}

// The first packet of the reply direction (ctinfo 3; 4 for an ICMP error), as seen at PRE_ROUTING.
inline svc_event reply(uint64_t ts, const svc_tuple& orig, int ifindex, uint32_t ctinfo = 3, uint8_t tcp_flags = 0x12) {
  svc_event e = base(SVC_EV_REPLY, ts, orig);
  e.reply.ifindex = ifindex;
  e.reply.ctinfo = ctinfo;
  e.reply.tcp_flags = tcp_flags;
  return e;
}

inline svc_event drop(uint64_t ts, const svc_tuple& orig, int ifindex, uint32_t reason, uint32_t ctinfo = 2 /* NEW */) {
  svc_event e = base(SVC_EV_DROP, ts, orig);
  e.reply.ifindex = ifindex;
  e.reply.drop_reason = reason;
  e.reply.ctinfo = ctinfo;
  return e;
}

// On a backend: the lookup of the route for the answer to a SYN that came in (orig: client -> local
// address) on ifindex; err < 0: it missed in table, 0: it found a route there after a miss.
inline svc_event route_back(uint64_t ts, const svc_tuple& orig, int ifindex, uint32_t table, int err) {
  svc_event e = base(SVC_EV_REPLY_ROUTE, ts, orig);
  e.route.iif = ifindex;
  e.route.table = table;
  e.route.err = err;
  return e;
}

}  // namespace test
