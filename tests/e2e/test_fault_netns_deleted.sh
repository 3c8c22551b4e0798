#!/usr/bin/env bash
# Fault while tracing: the namespace traced with --netns NAME is deleted (`ip netns del`), then its
# last process exits. svctrace, a process in it, keeps the namespace alive by itself, so it must notice:
# while a process is still there it says the name is gone and goes on tracing (a connect from that
# process is reported); when the last one leaves it says so and stops by itself, writing the report
# with every flow, exit status as for any run (3: the incident before the fault was diagnosed).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 120
# The namespace's workload: a process that outlives the namespace's name.
ip netns exec "$NODE" sleep 300 {E2E_OUT}>&- &
workload=$!
kill_on_exit "$workload"

incident_then_healthy "before the fault" 1

ip netns del "$NODE"
wait_stderr "network namespace \"$NODE\" was deleted" 10 || fail "svctrace did not say within 10 s that $NODE was deleted"
wait_stderr "1 process still in the namespace traced: tracing goes on" 5 ||
  fail "svctrace did not say that tracing goes on while a process is left in the namespace"
kill -0 "$SVC_PID" 2>/dev/null || fail "svctrace stopped while a process was still in the namespace"

# The namespace has no name now; its process still connects, and svctrace still sees it.
result=$(nsenter --net="/proc/$workload/ns/net" nc -z -w 3 172.24.0.1 443 2>&1) ||
  fail "connect from the namespace's last process failed: $result"
wait_for_count '.type == "outcome" and .state == "answered"' 2 20 ||
  fail "the connect made after the namespace's name was deleted was not reported answered"

kill "$workload"
wait "$workload" 2>/dev/null || true
wait_svctrace_exit 10 || fail "svctrace went on tracing for 10 s a namespace with no name and no process"
grep -qF "no process is left in the network namespace traced: nothing more can happen there; stopping" "$ERR" ||
  fail "svctrace did not say why it stopped: $(cat "$ERR")"
assert_fault_survived 3
assert_eq "$(jq -r .type <(tail -n 1 "$OUT"))" summary "the last line of stdout"
assert_report_json '[.flows[] | select(.verdict == "asymmetric_source")] | length == 1' "the report has the incident"
assert_report_json '[.flows[] | select(.state == "answered")] | length == 2' \
  "the report has both answered flows, before the fault and after the name was gone"

pass
