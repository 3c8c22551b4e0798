#!/usr/bin/env bash
# Not root, just capabilities: as the unprivileged user nobody holding exactly CAP_BPF, CAP_PERFMON and
# CAP_NET_ADMIN (ambient, so they survive exec), svctrace traces the incident and diagnoses it. With
# any one of them taken away it stops with exit 1 and an error that names the missing one; so does
# --netns without CAP_SYS_ADMIN, which setns(2) needs.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || fail "setpriv (util-linux) not installed"
MINIMAL=(bpf perfmon net_admin)
NOBODY=65534

# as_nobody CAPS... -- CMD...: runs CMD as uid/gid 65534 with exactly CAPS (effective, permitted,
# inheritable, ambient and bounding sets), nothing else.
as_nobody() {
  local caps="-all"
  while [[ $1 != -- ]]; do caps+=",+$1"; shift; done
  shift
  setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps="$caps" --ambient-caps="$caps" \
    --bounding-set="$caps" "$@"
}

real_svctrace=$SVCTRACE
[[ -x $real_svctrace ]] || fail "svctrace binary not found or not executable: $real_svctrace"
chmod o+rx "$WORK" # nobody must reach the wrapper

lab up >/dev/null

# (a) The minimal set, in the node namespace (entered by ip netns exec, as root, before dropping to
# nobody: entering it from svctrace would need CAP_SYS_ADMIN, tested below).
wrapper=$WORK/svctrace-as-nobody
cat >"$wrapper" <<EOF
#!/bin/sh
exec ip netns exec $NODE setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \\
  --inh-caps=-all,+bpf,+perfmon,+net_admin --ambient-caps=-all,+bpf,+perfmon,+net_admin \\
  --bounding-set=-all,+bpf,+perfmon,+net_admin "$real_svctrace" "\$@"
EOF
chmod 755 "$wrapper"
SVCTRACE=$wrapper start_svctrace --cidr "$CIDR" --json --duration 60
# The tracer really is nobody with those capabilities and nothing more.
status=$(cat "/proc/$SVC_PID/status")
[[ $(awk '/^Uid:/ {print $3}' <<<"$status") == "$NOBODY" ]] || fail "svctrace's effective uid is not $NOBODY: $(grep ^Uid: <<<"$status")"
cap_eff=$(awk '/^CapEff:/ {print $2}' <<<"$status")
# CAP_NET_ADMIN 12, CAP_PERFMON 38, CAP_BPF 39
assert_eq "$cap_eff" "$(printf '%016x' $(((1 << 12) | (1 << 38) | (1 << 39))))" "svctrace's effective capabilities"

result=$(lab_connect 3) && fail "connect through the broken lab should fail, got: $result"
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis within 10 s of the failed connect, running as nobody"
assert_json "$diag" '.verdict == "asymmetric_source" and .fix != null' "diagnosis made with the minimal capabilities"
stop_svctrace
assert_exit 3
assert_detached

# (b) Each capability of the minimal set taken away: exit 1, the error names it.
for missing in "${MINIMAL[@]}"; do
  keep=()
  for c in "${MINIMAL[@]}"; do [[ $c == "$missing" ]] || keep+=("$c"); done
  rc=0
  err=$(ip netns exec "$NODE" timeout 20 setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
    --inh-caps="-all$(printf ',+%s' "${keep[@]}")" --ambient-caps="-all$(printf ',+%s' "${keep[@]}")" \
    --bounding-set="-all$(printf ',+%s' "${keep[@]}")" "$real_svctrace" --cidr "$CIDR" --json --duration 5 2>&1 >/dev/null) || rc=$?
  name=CAP_${missing^^}
  [[ $rc == 1 ]] || fail "without $name: exit $rc, expected 1 (stderr: $err)"
  # Exactly that one, not the ones it holds.
  named=$(sed -n 's/.*(missing \([^;]*\);.*/\1/p' <<<"$err")
  assert_eq "$named" "$name" "capabilities named as missing without $name (stderr: $err)"
done

# --netns: entering another namespace needs CAP_SYS_ADMIN; without it exit 1 and the error says so.
rc=0
err=$(as_nobody "${MINIMAL[@]}" -- timeout 20 "$real_svctrace" --cidr "$CIDR" --netns "$NODE" --duration 5 2>&1 >/dev/null) || rc=$?
[[ $rc == 1 ]] || fail "--netns without CAP_SYS_ADMIN: exit $rc, expected 1 (stderr: $err)"
[[ $err == *"missing CAP_SYS_ADMIN"* ]] || fail "--netns without CAP_SYS_ADMIN: the error does not name it: $err"
# ... and with it, svctrace enters the namespace and gets to its ready line.
rc=0
out=$(as_nobody "${MINIMAL[@]}" sys_admin -- timeout 20 "$real_svctrace" --cidr "$CIDR" --netns "$NODE" --json --duration 0.2 2>"$ERR") || rc=$?
[[ $rc == 0 ]] || fail "--netns with CAP_SYS_ADMIN added: exit $rc, expected 0"
assert_json "$(head -n 1 <<<"$out")" '.type == "ready" and .netns.name == "'"$NODE"'"' "ready line in $NODE"

pass
