#!/usr/bin/env bash
# The morning's change, replayed while tracing: the node first has its default route via enslf0 (the
# service works), then that route is deleted and the default via enslf1 takes over. svctrace shows the
# change as it happens, and the diagnosis says the failures started after it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
ip netns exec "$NODE" ip route replace default via 10.141.13.1 dev enslf1 metric 100
ip netns exec "$NODE" ip route del default via 10.141.13.1 dev enslf1 metric 0
ip netns exec "$NODE" ip route add default via 10.0.0.1 dev enslf0
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 60

[[ $(lab connect --timeout 2) == *ok* ]] || fail "with the default via enslf0 the service should work"
wait_for_line '.type == "outcome" and .state == "answered"' 5 >/dev/null || fail "the working connect was not answered"

ip netns exec "$NODE" ip route del default via 10.0.0.1 dev enslf0
change=$(wait_for_line '.type == "change" and .deleted' 5) || fail "the route deletion was not reported"
assert_json "$change" '.kind == "route" and .what == "default via 10.0.0.1 dev enslf0"' "the change names the route"

lab connect --timeout 2 >/dev/null
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis after the change"
assert_json "$diag" '.verdict == "asymmetric_source"' "verdict"
assert_json "$diag" '.source_route == "default via 10.141.13.1 dev enslf1 metric 100"' "the route that took over"
assert_json "$diag" '.evidence.after_change.what == "default via 10.0.0.1 dev enslf0" and .evidence.after_change.deleted' \
  "the diagnosis names the change it followed"
assert_json "$diag" '.evidence.after_change.seconds_before >= 0 and .evidence.after_change.seconds_before < 30' "and when"
stop_svctrace
assert_exit 3
assert_report_json 'any(.timeline[]; .what == "default via 10.0.0.1 dev enslf0" and .deleted)' "report timeline"
pass
