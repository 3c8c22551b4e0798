#!/usr/bin/env bash
# e2e-timeout: 900 (the first run builds the image: minutes of mmdebstrap)
# The container image (scripts/image.sh, built from Debian's packages only) loaded into podman and run
# as deploy/daemonset.yaml runs it: the manifest's args (the lab's CIDR for the cluster's) and security
# context (uid 0, drop ALL and add what it adds, no_new_privs, read-only root, seccomp unconfined), the
# node's network namespace as its network (the lab's node stands for the node), the host's pids and
# /sys/kernel/btf read-only. Beside it, this build's binary with the same args and capabilities in
# the same namespace. One failing connect: both must give the same diagnosis, exit 3 and leave nothing
# in the kernel. The image must hold this build's binary, resolve all its libraries inside itself,
# and agree with the Containerfile.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

build=${E2E_IMAGE_BUILD:-$E2E_ROOT/build}
archive=$(bash "$E2E_ROOT/scripts/image.sh" "$build" 2>"$WORK/image.log") ||
  fail "scripts/image.sh $build failed: $(tail -n 15 "$WORK/image.log")"
grep -E "^image: .*(built:|is up to date)" "$WORK/image.log" || true
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")

# podman with storage of its own in WORK: nothing is left in the machine's, no other test sees it.
# runc, not crun: crun refuses hybrid cgroup hierarchies that have a controller on the v2 one ("cgroups
# in hybrid mode not supported, drop all controllers from cgroupv2"), as these machines do. Explicit
# limits: podman's default nofile (1048576) is above what a root without CAP_SYS_RESOURCE may set
# ("setrlimit `RLIMIT_NOFILE`: Operation not permitted"), as here.
pod() {
  podman --root "$WORK/storage" --runroot "$WORK/run" --storage-driver overlay --runtime runc "$@" {E2E_OUT}>&-
}
CTR_PID=""
# However the test ends: the container stopped (its `podman run --rm` removes it, and would mount the
# storage again to do so if still running), then podman's storage unmounted, so WORK can go.
# shellcheck disable=SC2317  # run by the EXIT trap, through on_exit
cleanup_podman() {
  if [[ -n $CTR_PID ]] && kill -0 "$CTR_PID" 2>/dev/null; then
    pod stop -t 5 "$PREFIX-svctrace" >/dev/null
    wait "$CTR_PID"
  fi
  pod rm -a -f -t 0
  umount "$WORK/storage/overlay"
}
on_exit cleanup_podman
loaded=$(pod load -i "$archive" 2>&1) || fail "podman load -i $archive: $loaded"
ref=$(sed -n 's/^Loaded image: *//p' <<<"$loaded" | head -n 1)
[[ -n $ref ]] || fail "podman load named no image: $loaded"
echo "loaded $ref ($(pod image inspect --format '{{.Size}}' "$ref") bytes unpacked)"

# The image runs the package's binary, as the Containerfile says.
entrypoint=$(pod image inspect --format '{{json .Config.Entrypoint}}' "$ref")
containerfile=$(sed -n 's/^ENTRYPOINT \(.*\)$/\1/p' "$E2E_ROOT/deploy/Containerfile")
assert_eq "$(jq -c . <<<"$entrypoint")" "$(jq -c . <<<"$containerfile")" "the image's entrypoint is the Containerfile's"

# The binary inside is this build's, and the image holds every library it loads.
in_image() { pod run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=64:64 --entrypoint "$1" "$ref" "${@:2}"; }
build_id() { readelf -n "$1" | sed -n 's/^ *Build ID: //p'; }
in_image /bin/cat /usr/sbin/svctrace >"$WORK/image-svctrace" || fail "cannot read /usr/sbin/svctrace from the image"
assert_eq "$(build_id "$WORK/image-svctrace")" "$(build_id "$build/svctrace")" "build id of the image's svctrace and of $build/svctrace"
libs=$(in_image /usr/bin/ldd /usr/sbin/svctrace) || fail "ldd in the image failed: $libs"
grep -q 'not found' <<<"$libs" && fail "the image lacks libraries of svctrace: $(grep 'not found' <<<"$libs")"
assert_eq "$(in_image /usr/sbin/svctrace --version)" "svctrace $version" "svctrace --version in the image"
# svctrace runs iptables-save and nft to read the NAT rules: the package's Recommends are in the image.
for tool in iptables-save ip6tables-save nft; do
  in_image /bin/sh -c "command -v $tool" >/dev/null || fail "the image has no $tool"
done
# The Containerfile installs the same: the package and its Recommends, nothing else recommended.
# shellcheck disable=SC2016  # a dpkg-query format, not a shell expansion
recommends=$(in_image /usr/bin/dpkg-query -W -f '${Recommends}' svctrace | tr -d ',')
grep -qF -- "apt-get install -y --no-install-recommends /tmp/svctrace_*.deb $recommends " "$E2E_ROOT/deploy/Containerfile" ||
  fail "deploy/Containerfile does not install the package with its Recommends ($recommends) and no other recommends"

# The DaemonSet's container: its args and security context, read with a YAML parser.
/usr/bin/python3 - "$E2E_ROOT/deploy/daemonset.yaml" >"$WORK/daemonset" <<'EOF' || fail "cannot read deploy/daemonset.yaml"
import sys, yaml
ds = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "DaemonSet"][0]
pod = ds["spec"]["template"]["spec"]
c = pod["containers"][0]
sc = c["securityContext"]
assert pod["hostNetwork"] and pod["hostPID"] and sc["runAsUser"] == 0 and sc["capabilities"]["drop"] == ["ALL"]
assert sc["seccompProfile"]["type"] == "Unconfined" and sc["readOnlyRootFilesystem"]
assert not sc["allowPrivilegeEscalation"] and not sc.get("privileged", False)
assert any(m["mountPath"] == "/sys/kernel/btf" and m["readOnly"] for m in c["volumeMounts"])
print("caps", ",".join(sc["capabilities"]["add"]))
print("args", *c["args"])
EOF
caps=$(awk '$1 == "caps" {print $2}' "$WORK/daemonset")
read -ra args < <(sed -n 's/^args //p' "$WORK/daemonset")
# The lab's Service CIDR for the cluster's; --duration only bounds an orphaned tracer.
for i in "${!args[@]}"; do [[ ${args[i]} == --cidr ]] && args[i + 1]=$CIDR; done
[[ " ${args[*]} " == *" --cidr $CIDR "* && " ${args[*]} " == *" --json "* ]] ||
  fail "the DaemonSet's args lack --cidr or --json: ${args[*]}"

lab up >/dev/null
CTR_OUT=$WORK/container.ndjson CTR_ERR=$WORK/container.err
(
  exec podman --root "$WORK/storage" --runroot "$WORK/run" --storage-driver overlay --runtime runc \
    run --rm --name "$PREFIX-svctrace" --network "ns:/run/netns/$NODE" --pid host \
    --user 0 --cap-drop all --cap-add "$caps" --security-opt no-new-privileges \
    --security-opt seccomp=unconfined --read-only -v /sys/kernel/btf:/sys/kernel/btf:ro \
    --ulimit "nofile=$(ulimit -Sn):$(ulimit -Hn)" --ulimit nproc=4096:4096 \
    "$ref" "${args[@]}" --duration 90
) <"/dev/null" >"$CTR_OUT" 2>"$CTR_ERR" {E2E_OUT}>&- &
CTR_PID=$!
OUT=$CTR_OUT wait_for_line '.type == "ready"' 60 >/dev/null ||
  fail "the container printed no ready line within 60 s: $(head -c 1000 "$CTR_ERR")"
# What the container's svctrace holds in the kernel (its pid is the host's: --pid host).
ctr_svctrace=$(pod inspect --format '{{.State.Pid}}' "$PREFIX-svctrace")
CTR_BPF_IDS=$(_bpf_ids_held "$ctr_svctrace")
grep -q '^link ' <<<"$CTR_BPF_IDS" || fail "the container's svctrace (pid $ctr_svctrace) holds no BPF link"
assert_eq "$(readlink "/proc/$ctr_svctrace/ns/net")" "net:[$(stat -L -c %i "/run/netns/$NODE")]" "the container's network namespace"

# The binary as the container runs it: in the node's namespace, uid 0 with the same capabilities only.
setpriv_caps=$(tr '[:upper:]' '[:lower:]' <<<"$caps" | sed 's/^/+/; s/,/,+/g')
SVC_WRAPPER=(ip netns exec "$NODE" setpriv --no-new-privs --bounding-set="-all,$setpriv_caps" --inh-caps=-all)
start_svctrace "${args[@]}" --duration 90
result=$(lab_connect 3) && fail "connect through the broken lab should fail, got: $result"
diag=$(wait_for_line '.type == "diagnosis"' 20) || fail "the binary made no diagnosis within 20 s"
ctr_diag=$(OUT=$CTR_OUT wait_for_line '.type == "diagnosis"' 20) || fail "the container made no diagnosis within 20 s"
# Without CAP_SYS_ADMIN no scratch namespace proves the fix: svctrace's reasoning checked it.
assert_json "$diag" '.verdict == "asymmetric_source" and (.fix | type) == "string" and .fix_proven == false' \
  "the binary's diagnosis with the DaemonSet's capabilities"
# The same diagnosis: every field but how long the flow had waited when it was made.
same() { jq -S 'del(.evidence.waited_ms)' <<<"$1"; }
diff <(same "$diag") <(same "$ctr_diag") >"$WORK/diff" ||
  fail "the container's diagnosis differs from the binary's: $(cat "$WORK/diff")"

stop_svctrace
assert_exit 3
pod stop -t 10 "$PREFIX-svctrace" >/dev/null || fail "podman stop failed"
ctr_rc=0
wait "$CTR_PID" || ctr_rc=$?
assert_eq "$ctr_rc" 3 "the container's exit status (podman run)"
assert_ndjson
OUT=$CTR_OUT assert_ndjson
assert_json "$(tail -n 1 "$CTR_OUT")" '.type == "summary"' "the container's last line"
[[ ! -s $CTR_ERR ]] || fail "the container wrote to stderr: $(head -c 500 "$CTR_ERR")"
SVC_BPF_IDS+=$'\n'$CTR_BPF_IDS
assert_detached
pass
