#!/usr/bin/env bash
# Issue 17's service (two_endpoints.sh): 172.24.0.1:443 on 10.0.0.8 behind enslf0 (asymmetric) and
# 10.141.13.1 on enslf1's network (healthy). Any route for the service IP would give the healthy
# endpoint's connections enslf0's source, so svctrace diagnoses only the broken endpoint, prints no
# route fix, names the pair a route would break, and prints a source NAT for exactly the broken
# direction with kube-proxy's --masquerade-all beside it. Applied as printed, every connection to
# every service of the lab works.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=two_endpoints.sh
source "$(dirname "$0")/two_endpoints.sh"

two_endpoint_lab enslf0
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60
diagnose_connects 4 2
healthy=$(jq -cR 'fromjson? | select(.type == "diagnosis" and .dnat.ip == "10.141.13.1")' "$OUT")
[[ -z $healthy ]] || fail "the healthy endpoint was diagnosed: $healthy"
assert_json "$DIAG" '.fix_conflicts == ["tcp 172.24.0.1:443 → 10.141.13.1 (leaves enslf1)"]' "names the pair a route would break"
assert_json "$DIAG" '.fix == "iptables -t nat -I POSTROUTING 1 -o enslf0 -s 10.141.13.182/32 -j SNAT --to-source 10.0.0.12"' \
  "a source NAT for exactly the broken direction"
assert_json "$DIAG" '.fix_alternative | test("--masquerade-all")' "kube-proxy's setting named beside it"
assert_json "$DIAG" '.fix_checked_against >= 2 and .fix_proven == true' "checked against every pair, by the kernel's NAT step"

ip netns exec "$NODE" sh -c "$(jq -r .fix <<<"$DIAG")"
for ((i = 0; i < 8; i++)); do
  lab_connect 3 >/dev/null || fail "connect $((i + 1)) of 8 to 172.24.0.1:443 failed after the fix"
done
for ((i = 0; i < 2; i++)); do
  [[ $(lab udp --timeout 3) == *answered ]] || fail "udp query $((i + 1)) to 172.24.0.10:53 failed after the fix"
done
pass
