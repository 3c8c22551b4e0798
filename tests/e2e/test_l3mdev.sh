#!/usr/bin/env bash
# The l3mdev rule of VRFs (1000: from all lookup [l3mdev-table]) on a node outside any VRF: added while
# tracing, the timeline prints it as `ip rule` does; the incident's flow, outside any VRF, is still
# diagnosed with the fix in main, the rule named nowhere; the report's rules match `ip rule` line for
# line and it lists no VRF. Needs CONFIG_NET_L3_MASTER_DEV only (test_vrf needs VRF devices).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

in_node() { ip netns exec "$NODE" "$@"; }

lab up >/dev/null

in_node ip rule add l3mdev pref 1000 2>"$WORK/l3mdev.err" ||
  fail "this kernel refuses an l3mdev rule ($(cat "$WORK/l3mdev.err")): CONFIG_NET_L3_MASTER_DEV is needed"
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
# Added while tracing: the timeline names it as `ip monitor` would.
in_node ip rule add pref 1001 l3mdev unreachable
change=$(wait_for_line '.type == "change" and .kind == "rule"' 10) || fail "no change line for the rule added"
assert_json "$change" '.what == "1001:\tfrom all lookup [l3mdev-table] unreachable"' "the l3mdev rule added while tracing"

[[ $(lab connect --timeout 2) == *failed* ]] || fail "the incident's connect (outside any VRF) should fail"
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis for the connect outside any VRF"
assert_json "$diag" '.verdict == "asymmetric_source" and .vrf == null' "outside any VRF: no VRF"
assert_json "$diag" '.source_rule == null' "the l3mdev rule selects no lookup outside a VRF"
assert_json "$diag" '.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12"' "outside any VRF: the fix in main"
stop_svctrace
assert_exit 3
# The namespace's real link dump (lo and two veths) holds no VRF device.
assert_report_json '.config.vrfs == []' "report.config.vrfs outside any VRF"
# The report's rules, line for line as `ip rule` prints them.
mapfile -t want < <(in_node ip -4 rule show)
got=$(jq -r '.config.rules.ipv4[]' "$REPORT")
[[ $got == "$(printf '%s\n' "${want[@]}")" ]] || fail "report rules differ from ip rule: got '$got', ip rule says '${want[*]}'"

pass
