#!/usr/bin/env bash
# SIGINT, SIGTERM and SIGHUP each stop svctrace cleanly: it exits 0 (its one flow was answered), ends
# its NDJSON with the summary, replaces the previous report with the new one (atomically: no temp file
# left), and leaves no BPF program or link behind. After SIGKILL nothing is left either (links are held
# by file descriptors, never pinned), and the previous report is untouched.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab fix >/dev/null

# run_until SIGNAL: one traced, answered connect, then SIGNAL.
run_until() {
  local sig=$1
  echo "previous report" >"$REPORT"
  : >"$OUT"
  start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 60
  result=$(lab_connect 3) || fail "connect through the fixed lab should succeed, got: $result"
  wait_for_line '.type == "outcome" and .state == "answered"' 5 >/dev/null ||
    fail "SIG$sig run: no answered outcome within 5 s of the connect"
  # (stderr: bash's "Killed" notice for the SIGKILLed job is noise)
  stop_svctrace "$sig" 2>/dev/null
}

for sig in INT TERM HUP; do
  run_until "$sig"
  assert_exit 0
  assert_detached
  assert_ndjson
  [[ $(tail -n 1 "$OUT" | jq -r .type) == summary ]] || fail "SIG$sig: stdout does not end with the summary line"
  assert_report
  assert_report_json 'any(.flows[]; .flow.dst == "172.24.0.1" and .state == "answered")' \
    "SIG$sig: the report replaced the previous one and has this run's answered flow"
  assert_report_json '.stats.events > 0' "SIG$sig: report.stats counts the events"
  leftovers=$(find "$WORK" -name 'report.json?*')
  [[ -z $leftovers ]] || fail "SIG$sig: temporary report files left behind: $leftovers"
done

run_until KILL
[[ $SVC_RC == 137 ]] || fail "after SIGKILL the exit status should be 137, got '$SVC_RC'"
assert_detached
[[ $(cat "$REPORT") == "previous report" ]] || fail "SIGKILL: the previous report was touched: $(head -c 200 "$REPORT")"

pass
