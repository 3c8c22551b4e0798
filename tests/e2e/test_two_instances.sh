#!/usr/bin/env bash
# Two svctrace instances in one namespace (a DaemonSet's and an on-call engineer's): the kernel lets one
# BPF program hold each netfilter hook priority, so the second takes the next free priority. Both must
# attach, both must diagnose the incident, and the first must keep working after the second has gone.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
FIRST_PID=$SVC_PID FIRST_OUT=$OUT FIRST_ERR=$ERR FIRST_REPORT=$REPORT
kill_on_exit "$FIRST_PID"  # the EXIT trap stops the one in SVC_PID only

OUT=$WORK/second.ndjson ERR=$WORK/second.err REPORT=$WORK/second-report.json
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
ready=$(head -n 1 "$OUT")
assert_json "$ready" 'any(.hooks[]; .hook == "netfilter ipv4 LOCAL_OUT prio -98")' \
  "the second instance took the next LOCAL_OUT priority"
assert_json "$ready" 'any(.hooks[]; .hook == "netfilter ipv4 POST_ROUTING prio 102")' \
  "the second instance took the next POST_ROUTING priority"

lab_connect 3 >/dev/null && fail "connect through the broken lab should fail"
for out in "$OUT" "$FIRST_OUT"; do
  diag=$(OUT=$out wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis in $(basename "$out")"
  assert_json "$diag" '.verdict == "asymmetric_source" and .egress_dev == "enslf0"' "$(basename "$out"): verdict"
done
stop_svctrace
assert_exit 3

# The first instance still sees new flows once the second has detached.
OUT=$FIRST_OUT ERR=$FIRST_ERR REPORT=$FIRST_REPORT SVC_PID=$FIRST_PID
lab_connect 3 >/dev/null && fail "connect through the broken lab should fail"
wait_for_count '.type == "diagnosis"' 2 10 || fail "the first instance missed the flow made after the second left"
stop_svctrace
assert_exit 3
assert_detached
pass
