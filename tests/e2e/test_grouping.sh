#!/usr/bin/env bash
# Three clients hit the broken service at once: three diagnoses of one cause, grouped and counted, each
# attributed to its own process; the confidence is high since no event was lost.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
pids=()
for _ in 1 2 3; do
  ip netns exec "$NODE" nc -z -w 2 172.24.0.1 443 {E2E_OUT}>&- >/dev/null 2>&1 &
  pids+=($!)
done
wait_for_count '.type == "diagnosis"' 3 10 || fail "expected 3 diagnoses within 10 s"
wait "${pids[@]}" || true
stop_svctrace
diags=$(jq -cR 'fromjson? | select(.type == "diagnosis")' "$OUT")
[[ $(jq -s 'map(.group) | unique | length' <<<"$diags") == 1 ]] || fail "the three diagnoses are not one group: $diags"
[[ $(jq -s 'map(.count) | sort' -c <<<"$diags") == "[1,2,3]" ]] || fail "counts are not 1,2,3: $diags"
[[ $(jq -s 'map(.pid) | unique | length' <<<"$diags") == 3 ]] || fail "each flow should name its own process: $diags"
[[ $(jq -s 'map(.confidence) | unique' -c <<<"$diags") == '["high"]' ]] || fail "confidence should be high: $diags"
pass
