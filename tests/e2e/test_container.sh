#!/usr/bin/env bash
# Who is affected: a flow opened by a process in a container names the container (the runtime's id, as
# the cgroup path shows it) and its pod. The "container" here is a cgroup laid out as kubelet's
# cgroupfs driver lays one out (kubepods/besteffort/pod<uid>/<id>), made for the test and removed after.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

id=$(printf 'e2e%061x' $$)
pod=1b2c3d4e-5f60-4718-9a0b-$(printf '%012x' $$)
# A v1 pids hierarchy where there is one (hybrid hosts), else the unified (v2) one.
root=""
for r in /sys/fs/cgroup/pids /sys/fs/cgroup/unified /sys/fs/cgroup; do
  [[ -e $r/cgroup.procs ]] && { root=$r; break; }
done
[[ -n $root ]] || fail "no writable cgroup hierarchy found under /sys/fs/cgroup"
cg=$root/kubepods-e2e$$/besteffort/pod$pod/$id
mkdir -p "$cg" || fail "cannot create the container's cgroup $cg"
remove_cgroup() { rmdir "$cg" "${cg%/*}" "${cg%/*/*}" "${cg%/*/*/*}" 2>/dev/null || true; }
on_exit remove_cgroup

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
# The client joins the cgroup, then runs in the node namespace, as a containerised client would.
bash -c 'echo $$ >"$1/cgroup.procs" && exec ip netns exec "$2" nc -z -w 3 172.24.0.1 443' _ "$cg" "$NODE" >/dev/null 2>&1 &&
  fail "connect through the broken lab should fail"

flow=$(wait_for_line '.type == "flow" and .comm == "nc"' 10) || fail "no flow line for the client"
assert_json "$flow" ".container.id == \"$id\"" "the flow names the client's container"
assert_json "$flow" ".container.pod_uid == \"$pod\"" "and its pod"
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis"
assert_json "$diag" ".container.id == \"$id\"" "the diagnosis names the container"
stop_svctrace
assert_report_json "any(.flows[]; .container.id == \"$id\")" "the report names the container"
pass
