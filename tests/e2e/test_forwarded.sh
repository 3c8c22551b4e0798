#!/usr/bin/env bash
# Forwarded pod traffic: a pod behind cni0 connects to the Service IP, DNAT in the node's PREROUTING.
# Without masquerade the api cannot answer the pod's address: unanswered, forwarded, and not blamed on
# the node's routes (no fix). With MASQUERADE on enslf0 it is answered and not diagnosed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab pod-up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 60

result=$(lab pod-connect --timeout 3)
[[ $result == *failed* ]] || fail "without masquerade the pod should not get through, got: $result"
diag=$(wait_for_line '.type == "diagnosis" and .flow.src == "10.244.0.2"' 10) || fail "no diagnosis for the pod flow"
assert_json "$diag" '.verdict == "unanswered" and .forwarded == true' "pod flow: unanswered, forwarded"
assert_json "$diag" '.fix == null and .source_route == null' "pod flow not blamed on a node route"
assert_json "$diag" '.evidence.ingress_dev == "cni0" and .egress_dev == "enslf0"' "pod flow devices"
assert_json "$diag" '.dnat.ip == "10.0.0.8" and .dnat.port == 6443' "pod flow DNAT target"
assert_json "$diag" '.reason | test("without SNAT")' "reason names the missing SNAT"

lab masquerade >/dev/null
result=$(lab pod-connect --timeout 3)
[[ $result == *ok* ]] || fail "with masquerade the pod should get through, got: $result"
answered=$(wait_for_line '.type == "outcome" and .flow.src == "10.244.0.2" and .state == "answered"' 5) ||
  fail "the masqueraded pod flow was not reported answered"
assert_json "$answered" '.snat.ip == "10.0.0.12" and .forwarded == true' "masqueraded flow: SNAT to the node's address"

stop_svctrace
assert_exit 3
n=$(jq -cR 'fromjson? | select(.type == "diagnosis")' "$OUT" | wc -l)
[[ $n == 1 ]] || fail "expected exactly one diagnosis (the unmasqueraded flow), got $n"
before_netfilter_links && skip "all else passed; the forwarded route decision is unseen ($BEFORE_NETFILTER_LINKS)"
# The node's route decision for the forwarded packet, towards the DNAT target.
assert_json "$diag" '.evidence.route_seen.table == 254 and .evidence.route_seen.dev == "enslf0"' \
  "the forwarded packet's route decision is recorded"
pass
