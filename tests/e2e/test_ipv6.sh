#!/usr/bin/env bash
# The incident over IPv6 (service fd00:10:96::/112): the same evidence as IPv4, from the fib6 lookup
# and IPv6 conntrack, and a fix that works.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab ipv6 >/dev/null
expected_route=$(ip netns exec "$NODE" ip -6 route get fibmatch fd00:10:96::1)
start_svctrace --netns "$NODE" --cidr fd00:10:96::/112 --json --report "$REPORT" --duration 60
lab connect6 --timeout 2 >/dev/null
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no IPv6 diagnosis within 10 s"
assert_json "$diag" '.verdict == "asymmetric_source"' "verdict"
assert_json "$diag" '.flow.src == "fd00:141::182" and .flow.dst == "fd00:10:96::1" and .flow.dport == 443' "flow"
assert_json "$diag" '.dnat.ip == "fd00:0:0:1::8" and .dnat.port == 6443 and .egress_dev == "enslf0"' "DNAT and egress"
assert_json "$diag" ".source_route == \"$expected_route\"" "source route as ip -6 route get fibmatch prints it"
assert_json "$diag" '.expected_source == "fd00:0:0:1::12"' "expected source"
assert_json "$diag" '.evidence.route_seen.table == 254 and .evidence.route_seen.dev == "enslf1"' "fib6 decision seen"
fix=$(jq -r '.fix' <<<"$diag")
[[ $fix == "ip route add fd00:10:96::/112 dev enslf0 src fd00:0:0:1::12" ]] || fail "fix: $fix"
stop_svctrace
assert_exit 3
ip netns exec "$NODE" sh -c "$fix"
[[ $(lab connect6 --timeout 3) == *ok* ]] || fail "the printed fix did not make the IPv6 service reachable"
pass
