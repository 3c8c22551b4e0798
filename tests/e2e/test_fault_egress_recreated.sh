#!/usr/bin/env bash
# Fault while tracing: the traced flows' egress device (enslf0, the path to the backend) is deleted,
# then re-created with the same name and addresses but a new ifindex. svctrace must go on: the
# incident and a healthy flow before the fault are reported; a connect while the device is gone is
# unanswered and not blamed on a route; after, the incident is diagnosed again naming the new enslf0,
# its printed fix works, and the report has every flow with its device's name.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 120

incident_then_healthy "before the fault" 1
old_ifindex=$(ip netns exec "$NODE" ip -o link show enslf0 | cut -d: -f1)

lab egress-del >/dev/null
# With enslf0 gone (and the fix route with it), the DNAT'd SYN follows the default route out enslf1,
# to a gateway that does not forward: no answer, from a source enslf1 owns.
result=$(lab_connect 3) && fail "connect with the egress device deleted should fail, got: $result"
gone=$(wait_for_line '.type == "diagnosis" and .verdict != "asymmetric_source"' 20) ||
  fail "no diagnosis within 20 s of the connect made while enslf0 was deleted"
assert_json "$gone" '.verdict == "unanswered"' "the connect while enslf0 is gone: verdict"
assert_json "$gone" '.egress_dev == "enslf1" and .fix == null' "the connect while enslf0 is gone: out enslf1, no route fix"

lab egress-add >/dev/null
new_ifindex=$(ip netns exec "$NODE" ip -o link show enslf0 | cut -d: -f1)
[[ $new_ifindex != "$old_ifindex" ]] || fail "the re-created enslf0 kept ifindex $old_ifindex; the test needs a new one"

incident_then_healthy "after the device was re-created" 2
diag=$(jq -cR 'fromjson? | select(.type == "diagnosis" and .verdict == "asymmetric_source")' "$OUT" | tail -n 1)
assert_json "$diag" '.egress_dev == "enslf0" and .expected_source == "10.0.0.12"' "the diagnosis after: the new enslf0"
assert_json "$diag" '.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12"' "the fix after the device came back"
# The printed fix must work on the new device (incident_then_healthy left the lab fixed: undo first).
lab unfix >/dev/null
ip netns exec "$NODE" sh -c "$(jq -r .fix <<<"$diag")" || fail "the printed fix failed to run: $(jq -r .fix <<<"$diag")"
result=$(lab_connect 3) || fail "connect still fails after the fix printed for the new enslf0: $result"
wait_for_count '.type == "outcome" and .state == "answered"' 3 20 || fail "the connect after the printed fix was not called answered"

stop_svctrace
assert_fault_survived 3
assert_report_json '[.flows[] | select(.verdict == "asymmetric_source")] | length == 2' "the report has both incidents"
assert_report_json '[.flows[] | select(.state == "answered")] | length == 3' "the report has the three answered flows"
assert_report_json '[.flows[] | select(.verdict == "unanswered")] | length == 1' "the report has the flow of the fault"
# A flow that left by the deleted enslf0 keeps that name: the device is gone, not renamed.
assert_report_json 'all(.flows[]; .egress_dev == "enslf0" or .verdict == "unanswered")' \
  "every flow but the fault's left by enslf0, old or new, and says so"

pass
