#!/usr/bin/env bash
# Fault while tracing: the route that decides the incident (the fix, 172.24.0.0/13 dev enslf0 src
# 10.0.0.12) flaps 100 times a second for 10 s (gone for half of each 10 ms, back for the other
# half) while clients connect. A connect gets source 10.0.0.12 and is answered when the route was
# there at its connect(), or the default route's 10.141.13.182 and fails. svctrace must keep up: every
# connect is one flow, decided as the client saw it (answered / asymmetric_source), no route blamed
# that did not choose the source, the routing changes on its timeline; and the incident and a healthy
# flow before and after the flapping are reported as ever.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

FLAP_SECONDS=10
FLAP_HZ=100
FIX_ROUTE="172.24.0.0/13 dev enslf0 src 10.0.0.12"

# flap_route: FLAP_HZ times a second for FLAP_SECONDS the fix route is deleted and, half a period
# later, added again, by one `ip -batch` in the node namespace; each change is due at a time of the
# clock (start + n half-periods), not after a sleep, so the rate holds on a loaded machine as long as
# ip keeps up. Writes how many flaps it made to $WORK/flaps. Ends with the route there.
flap_route() {
  local half_us=$((500000 / FLAP_HZ)) end_us tick n=0 now due wait_s
  mkfifo "$WORK/tick"
  exec {tick}<>"$WORK/tick" # never written: `read -t` on it is a sleep without a fork
  end_us=$((${EPOCHREALTIME/./} + FLAP_SECONDS * 1000000))
  local start_us=${EPOCHREALTIME/./}
  {
    while :; do
      now=${EPOCHREALTIME/./}
      ((now < end_us)) || break
      due=$((start_us + n * half_us))
      if ((now < due)); then
        printf -v wait_s '0.%06d' $((due - now))
        read -r -t "$wait_s" -u "$tick" || true
        continue
      fi
      if ((n % 2 == 0)); then echo "route del $FIX_ROUTE"; else echo "route add $FIX_ROUTE"; fi
      n=$((n + 1))
    done
    ((n % 2 == 0)) || echo "route add $FIX_ROUTE"
    echo $((n / 2)) >"$WORK/flaps"
  } | ip netns exec "$NODE" ip -force -batch - >"$WORK/flap.log" 2>&1
  exec {tick}>&-
}

# connect_during_flapping: a connect every 300 ms while the route flaps, each in the background
# (a failing one waits 2 s); every outcome is appended to $WORK/clients.
connect_during_flapping() {
  local i clients=()
  for ((i = 0; i < FLAP_SECONDS * 10 / 3; i++)); do
    lab connect --timeout 2 >>"$WORK/clients" &
    clients+=($!)
    sleep 0.3
  done
  wait "${clients[@]}" # (not a bare wait: svctrace is a child of this shell too)
}

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 120

incident_then_healthy "before the flapping" 1 # leaves the fix route in place

flap_route {E2E_OUT}>&- &
flapper=$!
kill_on_exit "$flapper"
connect_during_flapping
wait "$flapper" || fail "the route flapper failed: $(tail -n 3 "$WORK/flap.log")"
flaps=$(<"$WORK/flaps")
((flaps >= FLAP_HZ * FLAP_SECONDS * 9 / 10)) ||
  fail "the route flapped $flaps times in $FLAP_SECONDS s, not $((FLAP_HZ * FLAP_SECONDS)): the test did not make its fault"
ok=$(grep -c ': ok$' "$WORK/clients" || true)
failed=$(grep -c ': failed$' "$WORK/clients" || true)
((ok + failed == FLAP_SECONDS * 10 / 3)) || fail "expected $((FLAP_SECONDS * 10 / 3)) client outcomes, got $ok ok, $failed failed"
echo "flapping: $flaps flaps in $FLAP_SECONDS s; connects: $ok ok, $failed failed" >"$WORK/figures"

# Every connect during the flapping is decided as its client saw it.
wait_for_count '.type == "outcome" and .state == "answered"' $((1 + ok)) 30 ||
  fail "svctrace did not report all $ok connects answered during the flapping ($(grep -c '"state":"answered"' "$OUT") answered lines)"
wait_for_count '.type == "diagnosis"' $((1 + failed)) 30 ||
  fail "svctrace did not diagnose all $failed connects that failed during the flapping"

incident_then_healthy "after the flapping" $((2 + failed)) $((2 + ok))

stop_svctrace
assert_fault_survived 3
assert_eq "$(jq -cR 'fromjson? | select(.type == "outcome" and .state == "answered")' "$OUT" | wc -l)" $((2 + ok)) \
  "answered outcomes: one per connect that succeeded"
assert_eq "$(jq -cR 'fromjson? | select(.type == "diagnosis")' "$OUT" | wc -l)" $((2 + failed)) \
  "diagnoses: one per connect that failed"
# A failed connect's source came from the default route: that is the route named, with the fix; or,
# when the fix route was back by the time of the diagnosis, the diagnosis says the routing changed
# since and prints no fix. Never the fix route blamed for a source it did not choose.
bad=$(jq -cR 'fromjson? | select(.type == "diagnosis") | select(
        .verdict != "asymmetric_source" or .flow.src != "10.141.13.182" or
        ((.source_route != "default via 10.141.13.1 dev enslf1" or .fix != "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12") and
         (.fix != null or (.reason | test("the routing has changed since") | not))))' "$OUT" | head -n 1)
[[ -z $bad ]] || fail "a diagnosis made while the route flapped is wrong: $bad"
assert_report_json "[.flows[] | select(.state == \"answered\")] | length == $((2 + ok))" "answered flows in the report"
assert_report_json "[.flows[] | select(.verdict == \"asymmetric_source\")] | length == $((2 + failed))" "diagnosed flows in the report"
# The flapping is on the timeline (each change of the fix route, in the report as svctrace saw it).
assert_report_json "[.timeline[] | select(.what | test(\"^172.24.0.0/13 \"))] | length >= $((2 * flaps))" \
  "the report's timeline has every change of the route (a deletion and an addition a flap)"

pass
