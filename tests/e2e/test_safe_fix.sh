#!/usr/bin/env bash
# A second service in the CIDR has its backend on enslf1's network. A route for the whole CIDR via
# enslf0 would break it, so svctrace narrows the fix to the failing service IP, says why, and the
# narrowed fix repairs the failing service.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab second-service >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60
lab connect --timeout 2 >/dev/null
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis"
assert_json "$diag" '.fix == "ip route add 172.24.0.1/32 dev enslf0 src 10.0.0.12"' "fix narrowed to the service IP"
assert_json "$diag" '.fix_would_break == ["tcp 172.24.0.50:80 → 10.141.13.1 (leaves enslf1)"]' "names what the wide fix breaks"
stop_svctrace
ip netns exec "$NODE" sh -c "$(jq -r .fix <<<"$diag")"
[[ $(lab connect --timeout 3) == *ok* ]] || fail "the narrowed fix did not repair the service"
pass
