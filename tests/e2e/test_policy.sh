#!/usr/bin/env bash
# Policy routing: the service CIDR is routed by table 200, chosen by a rule. The diagnosis names the
# route with its table and the rule that selected it, and the fix goes into that table (replacing the
# route for the same prefix); applied, it works.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab policy >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60
lab connect --timeout 2 >/dev/null
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis"
assert_json "$diag" '.verdict == "asymmetric_source"' "verdict"
assert_json "$diag" '.source_route == "172.24.0.0/13 via 10.141.13.1 dev enslf1 table 200 src 10.141.13.182"' \
  "route named with its table and src, as ip route prints it"
assert_json "$diag" '.source_rule == "1000:\tfrom all to 172.24.0.0/13 lookup 200"' "the rule that selected it"
assert_json "$diag" '.evidence.route_seen.table == 200' "the BPF route hook saw table 200"
fix=$(jq -r .fix <<<"$diag")
[[ $fix == "ip route replace 172.24.0.0/13 dev enslf0 src 10.0.0.12 table 200" ]] || fail "fix: $fix"
stop_svctrace
assert_exit 3
ip netns exec "$NODE" sh -c "$fix"
[[ $(lab connect --timeout 3) == *ok* ]] || fail "the fix in table 200 did not make the service reachable"
pass
