#!/usr/bin/env bash
# The fixed lab: with the Service-CIDR route the source is 10.0.0.12 and connects succeed. svctrace must
# see the flows, call them answered and diagnose nothing.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab fix >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 60

for i in 1 2; do
  result=$(lab_connect 3) || fail "connect $i through the fixed lab should succeed, got: $result"
done

# Synchronise on svctrace having seen the traffic before stopping it.
wait_for_count '.type == "outcome" and .state == "answered"' 2 5 || fail "no 2 answered outcomes within 5 s of two connects"

stop_svctrace
assert_exit 0
assert_detached
assert_ndjson
diag=$(jq -cR 'fromjson? | select(.type == "diagnosis")' "$OUT" | head -n 1 || true)
[[ -z $diag ]] || fail "expected no diagnosis for answered flows, got: $diag"

assert_report
assert_report_json '.flows | type == "array"' "report.flows"
assert_report_json 'any(.flows[]; .flow.dst == "172.24.0.1")' "report has a flow to 172.24.0.1"
assert_report_json 'all(.flows[]; .state == "answered" and .verdict == "answered")' \
  "every flow in the report is answered (state and verdict)"
assert_report_json '.diagnoses == []' "report.diagnoses is empty"
# What the kernel frees after a connection worked (its closing exchange) is not the flow's drop.
assert_report_json 'all(.flows[]; .drops == null)' "no answered flow shows a drop"

pass
