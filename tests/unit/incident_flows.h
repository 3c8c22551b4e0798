// The flows of the lab's incident, for tests of the diagnosis: the node's failing connection, and the
// same connection as svctrace on its backend (the lab's api) sees it, with that backend's routing.
#pragma once
#include <netinet/in.h>

#include "correlate/correlator.h"
#include "fake_routing.h"
#include "synthetic_events.h"

namespace test {

// The incident on the node (FakeRouting's): source 10.141.13.182 chosen by the default route via
// enslf1 (ifindex 3), DNAT'd to 10.0.0.8:6443, out enslf0 (ifindex 2); 2 SYNs, no answer in 1 s.
inline Flow incident_flow() {
  Flow f;
  f.key = FlowKey::from_tuple(kNetns, tuple("10.141.13.182", 52946, "172.24.0.1", 443));
  f.nat_seen = true;
  f.dnat_ip = ip("10.0.0.8");
  f.dnat_port = 6443;
  f.route_ifindex = 3;
  f.egress_ifindex = 2;
  f.packets_unreplied = 2;
  f.retransmits = 1;
  f.first_seen_ns = 0;
  f.decided_ns = 1000 * kMs;
  f.state = FlowState::Unanswered;
  return f;
}

// The api of the lab, as svctrace on it sees the incident: SYNs from the node's wrong source came in on
// eth0 (ifindex 5), and the lookup for the SYN-ACK missed in main.
inline Flow incoming_flow() {
  Flow f;
  f.key = FlowKey::from_tuple(kNetns, tuple("10.141.13.182", 52946, "10.0.0.8", 6443));
  f.inbound = true;
  f.arrival_ifindex = 5;
  f.reply_route_missed_table = kTableMain;
  f.packets_unreplied = 2;
  f.decided_ns = 1500 * kMs;
  f.state = FlowState::Unanswered;
  return f;
}

inline FakeRouting api_routing() {
  FakeRouting r;
  r.names = {{5, "eth0"}};
  r.addrs = {{5, {{ip("10.0.0.8"), 24}}}};
  Route link;
  link.dst = ip("10.0.0.0");
  link.dst_len = 24;
  link.oif = 5;
  link.dev = "eth0";
  r.table_routes = {link};
  Rule local, main_rule, default_rule;
  local.table = kTableLocal;
  main_rule.priority = 32766;
  default_rule.priority = 32767;
  default_rule.table = kTableDefault;
  r.rule_list = {local, main_rule, default_rule};
  return r;
}

}  // namespace test
