#!/usr/bin/env bash
# Kubernetes names without an API server. The lab's service DNAT is rewritten as kube-proxy's iptables
# mode writes it (KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-*, each rule with kube-proxy's comment), and
# the client runs in a cgroup laid out as kubelet lays out a pod's (kubepods/besteffort/pod<uid>/<id>),
# with a fake host root (--host-root) holding kubelet's log directory of that pod. Every output names
# the Service `default/kubernetes:https` and the pod `default/client`: the flow and diagnosis lines,
# the human diagnosis (replayed), the report, the HTML report and `check`.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

PREFIX=knm$$
NODE=$PREFIX-node
id=$(printf 'c0de%060x' $$)  # 64 hex digits, as a runtime's container id
uid=4d5e6f70-8192-4a3b-9c4d-$(printf '%012x' $$)
pod_cgroup "knm$$" "$uid" "$id"

# The host's files as kubelet writes them: the pod's log directory, NAMESPACE_NAME_UID/CONTAINER/.
host=$WORK/host
mkdir -p "$host/var/log/pods/default_client_$uid/client"
: >"$host/var/log/pods/default_client_$uid/client/0.log"

lab up >/dev/null
# kube-proxy's rules for the lab's API service, in place of the lab's plain DNAT.
ipt() { ip netns exec "$NODE" iptables -t nat "$@"; }
ipt -N KUBE-SERVICES
ipt -N KUBE-SVC-NPX46M4PTMTKRN6Y
ipt -N KUBE-SEP-IKLFNQX6HU5AULF4
ipt -A KUBE-SERVICES -d 172.24.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" \
  -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
ipt -A KUBE-SVC-NPX46M4PTMTKRN6Y -m comment --comment "default/kubernetes:https -> 10.0.0.8:6443" \
  -j KUBE-SEP-IKLFNQX6HU5AULF4
ipt -A KUBE-SEP-IKLFNQX6HU5AULF4 -p tcp -m comment --comment default/kubernetes:https -m tcp \
  -j DNAT --to-destination 10.0.0.8:6443
ipt -D OUTPUT -d 172.24.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6443
ipt -I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES

# check: the pair, named.
run_check 3 --netns "$NODE" --cidr "$CIDR" --json
assert_json "$(head -n 1 "$OUT")" '.service.name == "default/kubernetes:https" and .service.ip == "172.24.0.1"' \
  "check --json names the pair's service"
run_check 3 --netns "$NODE" --cidr "$CIDR"
grep -q '172.24.0.1:443 default/kubernetes:https → 10.0.0.8:6443' "$OUT" ||
  fail "check's line does not name the service: $(head -c 500 "$OUT")"

start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --report "$WORK/report.html" \
  --host-root "$host" --record "$WORK/rec" --duration 60
connect_in_cgroup "$POD_CGROUP" && fail "connect through the broken lab should fail"

flow=$(wait_for_line '.type == "flow" and .comm == "nc"' 10) || fail "no flow line for the client"
assert_json "$flow" '.service == "default/kubernetes:https"' "the flow names the service"
assert_json "$flow" '.pod == "default/client" and .container.pod == "default/client"' "the flow names the pod"
assert_json "$flow" ".container.pod_uid == \"$uid\"" "and keeps its UID"
diag=$(wait_for_line '.type == "diagnosis" and .comm == "nc"' 10) || fail "no diagnosis"
assert_json "$diag" '.verdict == "asymmetric_source"' "the incident's verdict"
assert_json "$diag" '.service == "default/kubernetes:https" and .pod == "default/client"' \
  "the diagnosis names the service and the pod"
stop_svctrace
assert_report_json 'any(.diagnoses[]; .service == "default/kubernetes:https" and .pod == "default/client")' \
  "the report's diagnosis names them"
grep -q 'default/kubernetes:https' "$WORK/report.html" || fail "the HTML report does not name the service"
grep -q 'default/client' "$WORK/report.html" || fail "the HTML report does not name the pod"

# The human diagnosis, from the recording of the same run (the node's answers, names included, are in it).
"$SVCTRACE" replay "$WORK/rec" --color never >"$WORK/human" 2>>"$ERR" {E2E_OUT}>&- || true
line=$(grep -m1 '^✗' "$WORK/human") || fail "no human diagnosis in the replay: $(head -c 1000 "$WORK/human")"
[[ $line == *"→ 172.24.0.1:443 default/kubernetes:https (DNAT 10.0.0.8:6443)"* ]] ||
  fail "the human diagnosis does not name the service: $line"
# Its first line, wrapped at a word: joined again.
first=$(sed -n '/^✗/,/^  [a-z]/p' "$WORK/human" | head -n 2 | tr -s ' \n' ' ')
[[ $first == *"pod default/client container ${id:0:12}]"* ]] || fail "the human diagnosis does not name the pod: $first"
pass
