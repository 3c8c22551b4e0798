#!/usr/bin/env bash
# The node's route to the backend goes through the gw, which forwards but has no route to 10.0.0.8: the
# gw answers the SYN with ICMP net unreachable. That is not the backend refusing: svctrace must say
# "unreachable", name the router that said so, and blame no route of the node's and print no fix.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

GW=$PREFIX-gw
lab up >/dev/null
ip netns exec "$NODE" ip route add 10.0.0.8/32 via 10.141.13.1 dev enslf1
ip netns exec "$GW" sysctl -qw net.ipv4.ip_forward=1
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
lab connect --timeout 3 >/dev/null
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis within 10 s"
assert_json "$diag" '.verdict == "unreachable"' "verdict"
assert_json "$diag" '.evidence.answered_by == "ICMP net unreachable from 10.141.13.1"' "the ICMP error and the router that sent it"
assert_json "$diag" '.egress_dev == "enslf1" and .dnat.ip == "10.0.0.8"' "where the SYN went"
assert_json "$diag" '.reason | test("10.141.13.1 answered the SYN with ICMP net unreachable: a router on the way to 10.0.0.8:6443 has no route to it")' \
  "reason names the router"
assert_json "$diag" '.fix == null and .source_route == null' "no route of the node's blamed, no fix"
stop_svctrace
assert_exit 3
assert_detached
assert_report_json '[.diagnoses[].verdict] == ["unreachable"]' "the report keeps the diagnosis"
pass
