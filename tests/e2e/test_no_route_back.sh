#!/usr/bin/env bash
# svctrace run on the backend (the lab's api namespace, tracing its own address): the incident's SYNs
# come in from 10.141.13.182, for which the api has no route, so the kernel finds no route for the
# SYN-ACK and sends nothing. svctrace must call it no_route_back, name the device the SYNs came in by,
# the tables the kernel looked in, and the command that shows the kernel's answer. Then, with a rule
# sending the lookup to a table that misses before main finds a route back, the next flow's SYN-ACK
# leaves: that flow must be answered, with no second diagnosis.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

API=$PREFIX-api
# The api's own count of packets it could not route out (IPSTATS_MIB_OUTNOROUTES): the kernel adds one
# for each SYN-ACK that found no route.
out_no_routes() {
  ip netns exec "$API" awk '/^Ip: [0-9]/ { print $13 }' /proc/net/snmp
}
lab up >/dev/null
start_svctrace --netns "$API" --cidr 10.0.0.8/32 --json --all-flows --report "$REPORT" --duration 60
lab connect --timeout 3 >/dev/null
diag=$(wait_for_line '.type == "diagnosis"' 10) ||
  fail "no diagnosis within 10 s; the api counted $(out_no_routes) packets with no route out"
assert_json "$diag" ".evidence.syns <= $(out_no_routes)" "no more SYNs than the api's kernel counted unroutable"
assert_json "$diag" '.verdict == "no_route_back"' "verdict"
assert_json "$diag" '.flow.src == "10.141.13.182" and .flow.dst == "10.0.0.8" and .flow.dport == 6443' \
  "the flow as the backend sees it: the node's wrong source to the api's listener"
assert_json "$diag" '.evidence.syns >= 2' "every SYN that came in counted (the first and its retransmit)"
assert_json "$diag" '.evidence.route_back.arrival_dev == "eth0"' "the device the SYNs came in by"
assert_json "$diag" '.evidence.route_back.kernel_missed_in_table == "main"' "the table the kernel's lookup missed in"
assert_json "$diag" '.evidence.route_back.tables_tried == ["local", "main", "default"] and .evidence.route_back.route_now == null' \
  "the tables the rules send the lookup to, none with a route back"
assert_json "$diag" '.check == "ip route get 10.141.13.182 from 10.0.0.8"' "the command that shows the kernel's answer"
assert_json "$diag" '.reason | test("no SYN-ACK was sent")' "reason says what the client missed"
# The command it prints gives the kernel's answer: no route.
if ip netns exec "$API" ip route get 10.141.13.182 from 10.0.0.8 >/dev/null 2>&1; then
  fail "ip route get found a route back, but svctrace said there was none"
fi

# A rule before main sends the lookup to a table first: it misses there (table 100 has nothing for the
# client), and main now has a route back through the node. The rule also makes the kernel check the
# SYN's source with a lookup of its own (no ports), which must not count as the SYN-ACK's.
ip netns exec "$API" ip route add 192.0.2.0/24 dev eth0 table 100
ip netns exec "$API" ip rule add to 10.141.13.0/24 lookup 100 pref 1000
ip netns exec "$API" ip route add 10.141.13.0/24 via 10.0.0.12 dev eth0
lab connect --timeout 3 >/dev/null
outcome=$(wait_for_line '.type == "outcome" and .flow.src == "10.141.13.182" and .state == "answered"' 10) ||
  fail "the flow whose SYN-ACK found a route in main after missing in other tables was not called answered"
assert_json "$outcome" '.inbound == true and .arrival_dev == "eth0" and .flow.proto == "tcp" and .flow.dport == 6443 and .flow.sport > 0' \
  "the answered flow is the incoming connection (not the kernel's own source-check lookup)"
stop_svctrace
assert_exit 3
assert_detached
assert_eq "$(jq -c 'select(.type == "diagnosis")' "$OUT" | wc -l)" 1 "diagnoses (the answered flow got none)"
assert_report_json '[.diagnoses[].verdict] == ["no_route_back"]' "the report keeps the diagnosis"
assert_report_json '[.flows[] | select(.inbound) | .state] == ["unanswered", "answered"]' "the report keeps both flows"
pass
