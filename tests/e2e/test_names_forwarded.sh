#!/usr/bin/env bash
# Kubernetes names of a forwarded flow, in kube-proxy's nftables mode: the lab's service is laid out as
# kube-proxy's nftables proxier lays it out (its service and endpoint chains carry the service's name),
# and a pod behind cni0 connects to it. A fake host root (--host-root) holds what host-local IPAM and
# containerd keep of that pod: /var/lib/cni/networks/NET/IP naming the pod's sandbox, and the
# sandbox's bundle whose annotations name the pod. The diagnosis names both.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

PREFIX=knm$$
NODE=$PREFIX-node
sandbox=$(printf 'f0%062x' $$)
host=$WORK/host
mkdir -p "$host/var/lib/cni/networks/lab" "$host/run/containerd/io.containerd.runtime.v2.task/k8s.io/$sandbox"
printf '%s\neth0' "$sandbox" >"$host/var/lib/cni/networks/lab/10.244.0.2"
cat >"$host/run/containerd/io.containerd.runtime.v2.task/k8s.io/$sandbox/config.json" <<JSON
{"ociVersion": "1.1.0", "annotations": {"io.kubernetes.cri.container-type": "sandbox",
 "io.kubernetes.cri.sandbox-name": "client-7d9f8", "io.kubernetes.cri.sandbox-namespace": "shop"}}
JSON

lab up --nat nft >/dev/null
lab pod-up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --host-root "$host" --duration 60

result=$(lab pod-connect --timeout 3)
[[ $result == *failed* ]] || fail "without masquerade the pod should not get through, got: $result"
flow=$(wait_for_line '.type == "flow" and .flow.src == "10.244.0.2"' 10) || fail "no flow line for the pod"
assert_json "$flow" '.forwarded == true and .pod == "shop/client-7d9f8"' "the forwarded flow names its pod"
assert_json "$flow" '.service == "default/kubernetes:https"' "and the service, from kube-proxy's nft chains"
diag=$(wait_for_line '.type == "diagnosis" and .flow.src == "10.244.0.2"' 10) || fail "no diagnosis for the pod flow"
assert_json "$diag" '.verdict == "unanswered" and .forwarded == true' "pod flow: unanswered, forwarded"
assert_json "$diag" '.service == "default/kubernetes:https" and .pod == "shop/client-7d9f8"' \
  "the diagnosis names the service and the pod"
stop_svctrace
assert_report_json 'any(.flows[]; .pod == "shop/client-7d9f8")' "the report's flow names the pod"
pass
