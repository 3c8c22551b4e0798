#!/usr/bin/env bash
# A busy node (issue 16): 1200 answered connections to one service (172.24.0.2:80, DNAT'd to a server
# on enslf1's network, which the node's source reaches) and one connect to the incident's broken one.
# Each run starts with the node's conntrack table empty: the entries of the run before would be flows
# from before svctrace started.
# The human output is the failure (its flow line and diagnosis) and a bounded number of other lines
# (the banner, a line per service each stats interval, the closing table), not a line per healthy
# flow, whose counts are in the service lines and the table; --all-flows prints every flow, seen and
# answered.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

HEALTHY=1200

lab up >/dev/null
healthy_service_up

# run_busy OUT [ARGS...]: svctrace (human output, to OUT) on the busy lab: HEALTHY answered connects
# to 172.24.0.2:80, then one to the broken service; stopped with SIGINT once it printed the diagnosis'
# fix.
run_busy() {
  local out=$1 ready=$WORK/ready pid rc=0 made i
  shift
  rm -f "$ready"
  ip netns exec "$NODE" conntrack -F >/dev/null 2>&1
  "${SVC_WRAPPER[@]}" "$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --ready-file "$ready" --stats-interval 1 \
    --duration 120 "$@" >"$out" 2>"$WORK/busy.err" {E2E_OUT}>&- &
  pid=$!
  kill_on_exit "$pid"
  for ((i = 0; i < 400; i++)); do [[ -e $ready ]] && break; sleep 0.05; done
  [[ -e $ready ]] || fail "svctrace $* was not ready within 20 s: $(cat "$WORK/busy.err")"
  made=$(ip netns exec "$NODE" "$CONNLOAD" client --connect 172.24.0.2:80 --max "$HEALTHY" --seconds 60 {E2E_OUT}>&-)
  assert_json "$made" ".connections == $HEALTHY and .errors == 0" "$HEALTHY answered connects to the healthy service"
  lab_connect 3 >/dev/null && fail "the broken service answered"
  for ((i = 0; i < 300; i++)); do grep -q 'fix (checked against' "$out" && break; sleep 0.05; done
  grep -q 'fix (checked against' "$out" || fail "svctrace $* printed no diagnosis within 15 s: $(cat "$out")"
  kill -INT "$pid"
  wait "$pid" || rc=$?
  assert_eq "$rc" 3 "svctrace $* exit status after a diagnosis"
}

# count REGEX FILE: how many lines of FILE match.
count() { grep -cE -- "$1" "$2" || true; }

run_busy "$WORK/default.out" --report "$WORK/default.json"
out=$WORK/default.out
# The healthy flows never left the kernel: counted there, not sent (each would be a route and a NAT
# record at the least); the failed one was.
assert_json "$(cat "$WORK/default.json")" ".stats.flows_counted_in_kernel == $HEALTHY" "flows counted in the kernel"
assert_json "$(cat "$WORK/default.json")" ".stats.events_sent_by_kernel < 50 and .stats.flows_released_by_kernel >= 1" \
  "records the kernel sent for $HEALTHY healthy flows and a failed one"
assert_eq "$(count '^✓ tcp ' "$out")" 0 "answered flows' lines by default"
assert_eq "$(count '^→ tcp ' "$out")" 1 "flow lines by default: the failed flow's only"
grep -qE '^→ tcp 10\.141\.13\.182:[0-9]+ → 172\.24\.0\.1:443' "$out" || fail "the failed flow's line is missing: $(cat "$out")"
assert_eq "$(count '^✗ 10\.141\.13\.182' "$out")" 1 "diagnoses"
lines=$(wc -l <"$out")
((lines <= 80)) || fail "$lines lines for $HEALTHY healthy connections and one failure; expected at most 80: $(head -c 3000 "$out")"
grep -qE "^✓ 172\.24\.0\.2:80 → 10\.141\.13\.1:7443 out enslf1: [0-9]+ flows .*, 100% answered, connect p50 ≤" "$out" ||
  fail "no line for the healthy service's counts: $(cat "$out")"
grep -qE "^✗ 172\.24\.0\.1:443 → 10\.0\.0\.8:6443 out enslf0: 1 flow .*0% answered, 1 failed \(asymmetric_source\)" "$out" ||
  fail "no line for the failing service's counts: $(cat "$out")"
grep -qE "^  172\.24\.0\.2:80 +10\.141\.13\.1:7443 +enslf1 +$HEALTHY +$HEALTHY +0 +answered$" "$out" ||
  fail "the closing table does not count every healthy flow: $(tail -n 8 "$out")"

# The report draws them over time: the kernel's counts, in the buckets where they were read.
assert_json "$(cat "$WORK/default.json")" "any(.services[]; .backend == \"10.141.13.1:7443\"
  and (.over_time.answered | add) == $HEALTHY and (.over_time.failed | add) == 0)" \
  "the healthy row's counts over time"

run_busy "$WORK/all.out" --all-flows --report "$WORK/all.json"
out=$WORK/all.out
assert_json "$(cat "$WORK/all.json")" ".stats.events_sent_by_kernel >= 2 * $HEALTHY and .stats.flows_counted_in_kernel == 0" \
  "--all-flows: records the kernel sent"
assert_eq "$(count '^→ tcp 10\.141\.13\.182:[0-9]+ → 172\.24\.0\.2:80 ' "$out")" "$HEALTHY" "--all-flows: a line per healthy flow seen"
assert_eq "$(count '^✓ tcp 10\.141\.13\.182:[0-9]+ → 172\.24\.0\.2:80 .*answered after' "$out")" "$HEALTHY" \
  "--all-flows: a line per healthy flow answered"
assert_eq "$(count '^✗ 10\.141\.13\.182' "$out")" 1 "--all-flows: diagnoses"
pass
