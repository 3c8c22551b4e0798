#!/usr/bin/env bash
# The incident: a connect to the Service IP picks its source from the default route (enslf1), is DNATed
# to the API server behind enslf0 and goes unanswered. svctrace must diagnose it as asymmetric_source,
# name the route, and print a fix that really works.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
# --duration is only a safety net against an orphaned tracer; the test stops it with SIGINT.
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60

result=$(lab_connect 3) && fail "connect through the broken lab should fail, got: $result"

diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis line within 10 s of the failed connect"

assert_json "$diag" '.verdict == "asymmetric_source"' "verdict"
assert_json "$diag" '.flow.proto == "tcp"' "flow.proto"
assert_json "$diag" '.flow.src == "10.141.13.182"' "flow.src (source chosen by the default route)"
assert_json "$diag" '.flow.dst == "172.24.0.1"' "flow.dst"
assert_json "$diag" '.flow.dport == 443' "flow.dport"
assert_json "$diag" '.dnat.ip == "10.0.0.8"' "dnat.ip"
assert_json "$diag" '.dnat.port == 6443' "dnat.port"
assert_json "$diag" '.egress_dev == "enslf0"' "egress_dev"
assert_json "$diag" '.source_route == "default via 10.141.13.1 dev enslf1"' "source_route"
assert_json "$diag" '.expected_source == "10.0.0.12"' "expected_source"
assert_json "$diag" '.fix | type == "string" and contains("ip route add 172.24.0.0/13") and contains("dev enslf0") and contains("src 10.0.0.12")' "fix"
assert_json "$diag" '.evidence.syns >= 2' "evidence.syns"

stop_svctrace
assert_exit 3
assert_detached
assert_ndjson
assert_report
assert_report_json '.flows | type == "array"' "report.flows"
assert_report_json 'any(.flows[]; .flow.dst == "172.24.0.1" and .verdict == "asymmetric_source")' \
  "report has the failing flow to 172.24.0.1 with verdict asymmetric_source"
assert_report_json '.diagnoses | type == "array" and length >= 1' "report.diagnoses"
assert_report_json '.stats | type == "object"' "report.stats"
# The config snapshot lets someone who was not there check the verdict.
assert_report_json '.config.routes | index("default via 10.141.13.1 dev enslf1") != null' "report.config.routes"
assert_report_json '.config.rules.ipv4 | index("32766:\tfrom all lookup main") != null' "report.config.rules"
assert_report_json '.config.addresses | index("10.0.0.12/24 dev enslf0") != null' "report.config.addresses"
assert_report_json '.config.rp_filter.enslf1 == 0' "report.config.rp_filter"
assert_report_json '.config.nat_rules | test("--to-destination 10.0.0.8:6443")' "report.config.nat_rules"

# The printed fix must actually repair the lab.
fix=$(jq -r '.fix' <<<"$diag")
ip netns exec "$NODE" sh -c "$fix" || fail "the printed fix failed to run in $NODE: $fix"
result=$(lab_connect 3) || fail "connect still fails after applying the printed fix '$fix': $result"

pass
