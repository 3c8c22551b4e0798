#!/usr/bin/env bash
# svctrace proves a fix in a scratch network namespace held only by file descriptors. Killed with
# SIGKILL while it builds one (the node has 30000 routes in a table of their own, so that mirroring
# them takes long enough to catch it), it leaves nothing: no namespace name or nsfs mount on the
# scratch namespace, no device in the node's or the root namespace, and no process holding it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
for ((i = 0; i < 30000; i++)); do
  echo "route add 192.168.$((i / 250)).$((i % 250 + 1))/32 dev enslf1 table 300"
done | ip -n "$NODE" -batch -
node_ino=$(stat -L -c %i "/run/netns/$NODE")
root_ino=$(stat -L -c %i /proc/self/ns/net)  # the namespace the test runs in
node_links_before=$(ip -n "$NODE" -o link | awk '{print $2}')

start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 120
# In the background: svctrace proves the fix while the connect still waits for its SYN-ACK.
lab connect --timeout 3 >/dev/null &
# The scratch namespace: an fd of svctrace's on a network namespace that is neither the node's nor the root's.
scratch=""
for ((i = 0; i < 3000; i++)); do # 3000 x 10 ms = 30 s; one process a round, so as not to miss it
  for ino in $(find "/proc/$SVC_PID/fd" -lname 'net:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n'); do
    [[ $ino != "$node_ino" && $ino != "$root_ino" ]] && scratch=$ino
  done
  [[ -n $scratch ]] && break
  sleep 0.01
done
[[ -n $scratch ]] || fail "svctrace never held a scratch namespace within 30 s: $(tail -n 5 "$OUT")"
stop_svctrace KILL

holders=$(find /proc/[0-9]*/fd /proc/[0-9]*/task/[0-9]*/ns -lname "net:\[$scratch\]" 2>/dev/null || true)
[[ -z $holders ]] || fail "the scratch namespace net:[$scratch] is still held: $holders"
# (Other tests add and remove names, mounts and devices meanwhile: only the scratch namespace's count.)
for f in /run/netns/*; do
  [[ -e $f && $(stat -L -c %i "$f") == "$scratch" ]] && fail "a namespace name holds the scratch namespace: $f"
done
! grep -q "net:\[$scratch\]" /proc/self/mountinfo || fail "an nsfs mount of the scratch namespace was left"
[[ $(ip -n "$NODE" -o link | awk '{print $2}') == "$node_links_before" ]] || fail "the node's devices changed"
for dev in enslf0 enslf1; do
  ! ip link show "$dev" >/dev/null 2>&1 || fail "a mirror of the node's $dev appeared in the root namespace"
done
pass
