#!/usr/bin/env bash
# VRFs: the incident with the node's NICs enslaved to VRF vrf-blue (table 10). A socket bound to
# vrf-blue connects to the service IP; the kernel's l3mdev rule (1000: from all lookup [l3mdev-table])
# sends its lookup to table 10, whose default route via enslf1 gives it source 10.141.13.182, and after
# DNAT the packet leaves enslf0. svctrace must name the route with its table, the l3mdev rule, the VRF,
# and print a fix in table 10 that, applied, makes the VRF's connection work.
#
# A kernel without VRF devices (CONFIG_NET_VRF unset: `ip link add ... type vrf` fails with "Unknown
# device type") cannot run it: the test says SKIP with the reason, which run.sh counts as skipped, not
# passed; E2E_REQUIRE_VRF=1 makes it a failure. test_l3mdev covers the rule on such kernels.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

in_node() { ip netns exec "$NODE" "$@"; }

lab up >/dev/null
rc=0
lab vrf >/dev/null 2>"$WORK/vrf.err" || rc=$?
if ((rc == 3)); then
  why=$(tr -d '\n' <"$WORK/vrf.err")
  why="this kernel ($(uname -r)) ${why#lab: this kernel }"
  [[ ${E2E_REQUIRE_VRF:-0} == 1 ]] && fail "E2E_REQUIRE_VRF=1 but $why"
  skip "$why"
fi
((rc == 0)) || fail "lab vrf failed: $(cat "$WORK/vrf.err")"
in_node ip route show vrf vrf-blue >"$WORK/vrf-routes"
grep -q '^10.0.0.0/24 dev enslf0' "$WORK/vrf-routes" || fail "enslf0's network is not in table 10: $(cat "$WORK/vrf-routes")"

start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
[[ $(lab vrf-connect --timeout 2) == *": failed" ]] || fail "the connect from vrf-blue should fail before the fix"
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis for the connect from vrf-blue"
assert_json "$diag" '.verdict == "asymmetric_source"' "verdict"
assert_json "$diag" '.flow.src == "10.141.13.182" and .egress_dev == "enslf0"' "source from enslf1's route, out enslf0"
assert_json "$diag" '.evidence.route_seen.table == 10' "the BPF route hook saw table 10"
assert_json "$diag" '.vrf.name == "vrf-blue" and .vrf.table == "10"' "the VRF"
assert_json "$diag" '.source_route == "default via 10.141.13.1 dev enslf1 table 10"' "the route, with its table"
assert_json "$diag" '.source_rule == "1000:\tfrom all lookup [l3mdev-table]"' "the l3mdev rule that chose table 10"
assert_json "$diag" '.expected_source == "10.0.0.12"' "the source enslf0 gives, asked in the VRF"
assert_json "$diag" '.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12 table 10"' "the fix, in the VRF's table"
stop_svctrace
assert_exit 3
assert_report_json '.config.vrfs | index("vrf-blue table 10: enslf0 enslf1") != null' "report.config.vrfs"
assert_report_json '.config.routes | index("default via 10.141.13.1 dev enslf1 table 10") != null' "report.config.routes"

fix=$(jq -r .fix <<<"$diag")
in_node sh -c "$fix" || fail "the printed fix failed to run: $fix"
[[ $(lab vrf-connect --timeout 2) == *": ok" ]] || fail "the connect from vrf-blue still fails after the fix '$fix'"
pass
