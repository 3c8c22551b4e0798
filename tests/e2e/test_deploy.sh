#!/usr/bin/env bash
# deploy/daemonset.yaml, read as Kubernetes would read it (a YAML parser, not grep): its container's
# args are run, as given, by this svctrace with exactly the container's security context (uid 0, the
# capabilities it adds and nothing else, no_new_privs when it forbids privilege escalation) in a fresh
# network namespace, for 0.2 s. It must reach its ready line, warn about nothing and exit 0. The
# manifest must also keep to what the README promises: host network, no privileged, drop ALL.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

manifest=$E2E_ROOT/deploy/daemonset.yaml
[[ -f $manifest ]] || fail "no $manifest"
# Debian's python3 with python3-yaml (scripts/install-deps.sh), whatever python3 PATH finds first.
/usr/bin/python3 -c 'import yaml' 2>/dev/null || fail "/usr/bin/python3 cannot import yaml (python3-yaml)"

# One line per fact, from the parsed manifest; the args NUL-separated in their own file.
facts=$(/usr/bin/python3 - "$manifest" "$WORK/args" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ds = [d for d in docs if d.get("kind") == "DaemonSet"]
assert len(ds) == 1, f"expected one DaemonSet, found {len(ds)}"
pod = ds[0]["spec"]["template"]["spec"]
containers = pod["containers"]
assert len(containers) == 1, f"expected one container, found {len(containers)}"
c = containers[0]
sc = c.get("securityContext", {})
caps = sc.get("capabilities", {})
print("command", "set" if "command" in c else "unset")
print("hostNetwork", pod.get("hostNetwork", False))
print("hostPID", pod.get("hostPID", False))
print("privileged", sc.get("privileged", False))
print("runAsUser", sc.get("runAsUser", "unset"))
print("allowPrivilegeEscalation", sc.get("allowPrivilegeEscalation", True))
print("drop", ",".join(caps.get("drop", [])))
print("add", ",".join(sorted(caps.get("add", []))))
mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
vols = {v["name"]: v for v in pod.get("volumes", [])}
btf = [n for n, m in mounts.items() if m["mountPath"] == "/sys/kernel/btf"]
print("btf", "ok" if btf and mounts[btf[0]].get("readOnly") and
      vols[btf[0]].get("hostPath", {}).get("path") == "/sys/kernel/btf" else "missing")
with open(sys.argv[2], "wb") as f:
    for a in c["args"]:
        f.write(str(a).encode() + b"\0")
EOF
) || fail "cannot read $manifest as a DaemonSet with one container"
fact() { awk -v k="$1" '$1 == k {print $2}' <<<"$facts"; }

assert_eq "$(fact command)" unset "container command (the image's ENTRYPOINT runs svctrace)"
assert_eq "$(fact hostNetwork)" True "hostNetwork"
assert_eq "$(fact hostPID)" True "hostPID (to name each flow's container)"
assert_eq "$(fact privileged)" False "privileged"
assert_eq "$(fact runAsUser)" 0 "runAsUser"
assert_eq "$(fact drop)" ALL "capabilities.drop"
assert_eq "$(fact add)" BPF,NET_ADMIN,PERFMON "capabilities.add"
assert_eq "$(fact btf)" ok "/sys/kernel/btf mounted read-only from the host"

mapfile -d '' args <"$WORK/args"
((${#args[@]} > 0)) || fail "the container has no args"
caps=$(fact add | tr '[:upper:]' '[:lower:]' | sed 's/^/+/; s/,/,+/g')
nnp=()
[[ $(fact allowPrivilegeEscalation) == False ]] && nnp=(--no-new-privs)

# A fresh namespace of our own (named like the lab's node, so the harness removes it on exit).
ip netns add "$NODE"
rc=0
ip netns exec "$NODE" setpriv "${nnp[@]}" --bounding-set="-all,$caps" --inh-caps=-all \
  timeout 20 "$SVCTRACE" "${args[@]}" --duration 0.2 >"$OUT" 2>"$ERR" || rc=$?
[[ $rc == 0 ]] || fail "svctrace ${args[*]} --duration 0.2 with capabilities $caps: exit $rc, expected 0"
if [[ " ${args[*]} " == *" --json "* ]]; then
  assert_json "$(head -n 1 "$OUT")" '.type == "ready" and (.hooks | length) > 0' "first line with the manifest's args"
  assert_json "$(tail -n 1 "$OUT")" '.type == "summary"' "last line with the manifest's args"
else
  grep -q '^svctrace: tracing ' "$OUT" || fail "no ready line with the manifest's args: $(head -c 500 "$OUT")"
fi
# With every capability it needs, nothing degrades: no warning (a missing CAP_NET_ADMIN would
# leave the conntrack table unread, for instance).
[[ ! -s $ERR ]] || fail "svctrace wrote to stderr with the manifest's capabilities: $(head -c 500 "$ERR")"

pass
