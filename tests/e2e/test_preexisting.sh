#!/usr/bin/env bash
# Flows opened before svctrace starts come from the conntrack table: a long-lived answered connection
# is reported answered, and a half-open one is diagnosed as preexisting; as it still retries its SYN
# while svctrace watches, it is a failure of now (exit 3). test_preexisting_past: one that does not.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab fix >/dev/null
# A long-lived connection through the fixed route, held open for at most 30 s (one process, ended by
# the test or its EXIT trap: a namespace deleted under it would keep it alive).
ip netns exec "$NODE" socat -u EXEC:"sleep 30" TCP:172.24.0.1:443 {E2E_OUT}>&- >/dev/null 2>&1 &
held=$!
kill_on_exit "$held"
for _ in $(seq 100); do
  ip netns exec "$NODE" conntrack -L -d 172.24.0.1 2>/dev/null | grep -q ESTABLISHED && break
  sleep 0.05
done
lab unfix >/dev/null
# A half-open one through the broken route, retrying its SYN for up to 16 s: the kernel retransmits at
# 1, 3, 7 and 15 s, so svctrace sees a retransmit even when a loaded machine takes seconds to start it
# (with 6 s, the last one came at 3 s, sometimes before svctrace was attached).
# Not in a subshell: one whose nc is killed by `lab down` prints "Terminated" into the test's output.
ip netns exec "$NODE" nc -z -w 16 172.24.0.1 443 {E2E_OUT}>&- >/dev/null 2>&1 &
half_open=$!
kill_on_exit "$half_open"
for _ in $(seq 100); do
  ip netns exec "$NODE" conntrack -L -d 172.24.0.1 2>/dev/null | grep -q SYN_SENT && break
  sleep 0.05
done

start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 60
old=$(wait_for_line '.type == "outcome" and .preexisting and .flow.src == "10.0.0.12"' 5) ||
  fail "the long-lived connection from before the start was not reported"
assert_json "$old" '.state == "answered" and .dnat.ip == "10.0.0.8"' "long-lived flow is answered, with its DNAT"
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "the half-open flow was not diagnosed"
assert_json "$diag" '.verdict == "asymmetric_source" and .flow.src == "10.141.13.182"' "half-open flow diagnosed"
assert_json "$diag" '.source_route == "default via 10.141.13.1 dev enslf1"' "half-open flow: the route is named"
assert_json "$diag" '.preexisting == true' "half-open flow: shown as from before the start"
# It is still retrying while svctrace watches (nc gives up after 16 s): a failure of now, so exit 3.
wait "$half_open" || true
stop_svctrace
assert_exit 3
kill "$held"
wait "$held" 2>/dev/null || true
pass
