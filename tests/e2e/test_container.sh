#!/usr/bin/env bash
# Who is affected: a flow opened by a process in a container names the container (the runtime's id, as
# the cgroup path shows it) and its pod. The "container" here is a cgroup laid out as kubelet's
# cgroupfs driver lays one out (kubepods/besteffort/pod<uid>/<id>), made for the test and removed after.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

id=$(printf 'e2e%061x' $$)
pod=1b2c3d4e-5f60-4718-9a0b-$(printf '%012x' $$)
pod_cgroup "e2e$$" "$pod" "$id"

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
connect_in_cgroup "$POD_CGROUP" && fail "connect through the broken lab should fail"

flow=$(wait_for_line '.type == "flow" and .comm == "nc"' 10) || fail "no flow line for the client"
assert_json "$flow" ".container.id == \"$id\"" "the flow names the client's container"
assert_json "$flow" ".container.pod_uid == \"$pod\"" "and its pod"
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis"
assert_json "$diag" ".container.id == \"$id\"" "the diagnosis names the container"
stop_svctrace
assert_report_json "any(.flows[]; .container.id == \"$id\")" "the report names the container"
pass
