#!/usr/bin/env bash
# Socket-level load balancing (Cilium's socket LB): a cgroup connect4 program rewrites the client's
# connect to 172.24.0.1:443 into one to the backend, so no packet to the Service IP exists and
# svctrace, tracing the Service CIDR, sees nothing. It must say why, on the ready line and at the end,
# name the program, and point at the backends instead; `--hooks` shows it, and stops showing it once
# it is detached.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

obj=$(dirname "$SVCTRACE")/tests/bpf/bpf/e2e_socket_lb.bpf.o
[[ -f $obj ]] || fail "the test's connect4 program is not built: $obj (cmake --build builds it)"
root=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[[ -n $root ]] || skip "no cgroup v2 hierarchy is mounted, where cgroup BPF programs attach"
cg=$root/svctrace-$PREFIX
pin=/sys/fs/bpf/svctrace-$PREFIX
mkdir "$cg"
on_exit rmdir "$cg"
bpftool prog load "$obj" "$pin" type cgroup/connect4 || fail "bpftool could not load $obj"
on_exit rm -f "$pin"
bpftool cgroup attach "$cg" connect4 pinned "$pin" || fail "bpftool could not attach the program to $cg"
on_exit bpftool cgroup detach "$cg" connect4 pinned "$pin"

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60
ready=$(head -n 1 "$OUT")
assert_json "$ready" "any(.connect_programs[]; .name == \"lab_sock_lb\" and .attach == \"connect4\" and .cgroup == \"$cg\")" \
  "the ready line names the connect4 program and its cgroup"

# The client, in that cgroup and the node's namespace: the program sends it straight to the backend,
# from the address of the device that reaches it, so it connects, and svctrace sees none of it.
bash -c 'echo $$ >"$1/cgroup.procs" && exec ip netns exec "$2" nc -z -w 3 172.24.0.1 443' _ "$cg" "$NODE" ||
  fail "the connect rewritten by the lab's socket LB should reach the backend"

stop_svctrace
assert_exit 0
assert_detached
assert_ndjson
flows=$(jq -cR 'fromjson? | select(.type == "flow" or .type == "diagnosis")' "$OUT")
[[ -z $flows ]] || fail "no packet went to the Service IP, yet svctrace reported: $flows"
note=$(jq -cR 'fromjson? | select(.type == "note")' "$OUT")
assert_json "$note" '.text | test("nothing to 172.24.0.0/13 was seen") and test("lab_sock_lb") and test("socket-level load balancing") and test("backends")' \
  "the closing note explains why nothing was seen"
assert_json "$(tail -n 1 "$OUT")" '.type == "summary"' "the summary stays the last line, after the note"

hooks=$("$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --hooks 2>&1)
grep -q "^connect .*attached: lab_sock_lb (id [0-9]*, connect4) at $cg" <<<"$hooks" ||
  fail "--hooks should show the attached connect4 program, got: $hooks"
bpftool cgroup detach "$cg" connect4 pinned "$pin"
hooks=$("$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --hooks 2>&1)
! grep -q "lab_sock_lb" <<<"$hooks" || fail "--hooks still shows the program after it was detached: $hooks"

pass
