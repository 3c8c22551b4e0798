#!/usr/bin/env bash
# A UDP service (DNS-like, 172.24.0.10:53 DNAT 10.0.0.8:5353): with the incident's routes the query
# gets no answer and is diagnosed like TCP, by timeout; with the fix route it is answered.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 60 --unanswered-after 1000

result=$(lab udp --timeout 2)
[[ $result == *"no answer"* ]] || fail "the broken lab should not answer UDP, got: $result"
diag=$(wait_for_line '.type == "diagnosis" and .flow.proto == "udp"' 10) || fail "no UDP diagnosis within 10 s"
assert_json "$diag" '.verdict == "asymmetric_source"' "UDP verdict"
assert_json "$diag" '.flow.src == "10.141.13.182" and .flow.dst == "172.24.0.10" and .flow.dport == 53' "UDP flow"
assert_json "$diag" '.dnat.ip == "10.0.0.8" and .dnat.port == 5353' "UDP DNAT target"
assert_json "$diag" '.source_route == "default via 10.141.13.1 dev enslf1"' "UDP source route"
assert_json "$diag" '.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12"' "UDP fix"
assert_json "$diag" '.evidence.packets >= 1 and .evidence.waited_ms >= 1000' "decided by the timeout"

lab fix >/dev/null
# The wait bounds the whole query, socat's start included: under qemu's TCG on a loaded machine that
# start alone can take seconds (2 s failed 2 of 3 kernels of one matrix run). An answer ends it early.
result=$(lab udp --timeout 10)
[[ $result == *answered* ]] || fail "the fixed lab should answer UDP, got: $result"
wait_for_line '.type == "outcome" and .flow.proto == "udp" and .state == "answered"' 5 >/dev/null ||
  fail "the answered UDP query was not reported as answered"

stop_svctrace
assert_exit 3
assert_report_json '[.flows[] | select(.flow.proto == "udp")] | length == 2' "report has both UDP flows"
assert_report_json 'any(.flows[]; .flow.proto == "udp" and .verdict == "answered" and .flow.src == "10.0.0.12")' \
  "report: the fixed query is answered"
pass
