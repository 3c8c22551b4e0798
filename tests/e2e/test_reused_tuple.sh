#!/usr/bin/env bash
# A connection on the tuple of one answered earlier (the client's ports wrapped, or it binds its
# source port): conntrack makes a new entry, and svctrace must decide the new flow on its own. Here
# the first connect is answered; then the backend stops answering, and the same source port connects
# again: its SYNs go unanswered and that is diagnosed, not lost in the old, answered flow.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

API=$PREFIX-api
lab up >/dev/null
lab fix >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --duration 60

# connect_from_port: one connect from source port 40000, closed with a reset (linger 0), so that no
# TIME_WAIT keeps the port; conntrack's entry for a reset connection gives way to the next SYN.
connect_from_port() {
  ip netns exec "$NODE" socat -u /dev/null \
    TCP:172.24.0.1:443,sourceport=40000,reuseaddr,so-linger=0,connect-timeout=3 {E2E_OUT}>&- 2>/dev/null
}

connect_from_port || fail "the first connect (fixed lab) did not get through"
wait_for_line '.type == "outcome" and .flow.sport == 40000 and .state == "answered"' 5 >/dev/null ||
  fail "the first connect was not reported answered"

ip netns exec "$API" iptables -A INPUT -p tcp --dport 6443 -j DROP
! connect_from_port || fail "the second connect got through a backend that drops everything"
diag=$(wait_for_line '.type == "diagnosis" and .flow.sport == 40000' 10) ||
  fail "the second connect on the same tuple was not diagnosed: $(jq -cR 'fromjson? | select(.type == "outcome" or .type == "diagnosis") | {type, state, verdict, flow}' "$OUT")"
assert_json "$diag" '.verdict == "unanswered" and .evidence.syns >= 2 and .evidence.retransmits >= 1' \
  "the new flow's own SYNs, unanswered"

stop_svctrace
assert_exit 3
pass
