#!/usr/bin/env bash
# The route svctrace names is the one `ip route get fibmatch` prints, letter for letter, also for a
# multipath route with a metric and protocol.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
ip netns exec "$NODE" ip route add 172.24.0.0/13 proto static metric 50 \
  nexthop via 10.141.13.1 dev enslf1 weight 1 nexthop via 10.141.13.2 dev enslf1 weight 3
# iproute2 ends each line with a space; svctrace does not.
expected=$(ip netns exec "$NODE" ip route get fibmatch 172.24.0.1 | sed 's/ *$//')
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60
lab connect --timeout 2 >/dev/null
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis"
actual=$(jq -r .source_route <<<"$diag")
[[ $actual == "$expected" ]] || fail "source_route differs from ip route get fibmatch:
expected: $expected
actual:   $actual"
stop_svctrace
pass
