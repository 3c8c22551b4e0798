#!/usr/bin/env bash
# kube-proxy's IPVS mode (scripts/lab.sh up --nat ipvs): the service IPs are addresses of kube-ipvs0,
# IPVS forwards to the endpoint, and kube-proxy's masquerade of this node's service traffic is
# missing. A connect picks the service IP itself as its source (the local route on kube-ipvs0), IPVS
# sends its SYN to 10.0.0.8 out of enslf0, and the api cannot answer. `check` must find it in IPVS's
# table with no traffic, along with a virtual server with no real server (no_endpoints); the tracer
# must see the backend IPVS chose and give the same verdicts (a pod's flow through IPVS is forwarded,
# not the node's); kube-proxy's masquerade fixes it.
# Needs the ip_vs module: the VM kernels (tests/vm) have it, the CI host's kernel does not.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

# E2E_REQUIRE_IPVS=1 (the kernel matrix sets it in its VMs) makes a kernel without ip_vs a failure.
if ! modprobe ip_vs 2>/dev/null && [[ ! -d /sys/module/ip_vs ]]; then
  why="kernel $(uname -r) has no ip_vs module: kube-proxy's IPVS mode cannot be built"
  [[ ${E2E_REQUIRE_IPVS:-0} == 1 ]] && fail "E2E_REQUIRE_IPVS=1 but $why"
  skip "$why (tests/vm/matrix.sh runs this test in the VM kernels, which have it)"
fi
command -v ipvsadm >/dev/null || fail "ipvsadm is not installed (scripts/install-deps.sh installs it)"

lab up --nat ipvs >/dev/null
lab no-endpoints >/dev/null

# --- check, with no traffic ---
run_check 3 --netns "$NODE" --cidr "$CIDR" --json
assert_ndjson
tcp=$(jq -c 'select(.service.ip == "172.24.0.1")' "$OUT")
[[ -n $tcp ]] || fail "check found no pair for the IPVS service 172.24.0.1: $(cat "$OUT")"
assert_json "$tcp" '.ok == false and .verdict == "asymmetric_source"' "check: the API service pair fails"
assert_json "$tcp" '.backend.ip == "10.0.0.8" and .backend.port == 6443 and .found_in == [{"rules": "ipvsadm", "chain": "virtual server"}]' "check: the pair from IPVS's table"
assert_json "$tcp" '.source == "172.24.0.1" and .egress_dev == "enslf0" and .expected_source == "10.0.0.12"' "check: source and egress"
assert_json "$tcp" '.fix | type == "string" and test("SNAT --to-source 10.0.0.12")' "check: the fix is a source NAT (no route changes a local source)"
empty=$(jq -c 'select(.service.ip == "172.24.0.20")' "$OUT")
assert_json "$empty" '.ok == false and .verdict == "no_endpoints" and .backend == null' "check: the virtual server with no real server"
udp=$(jq -c 'select(.service.proto == "udp")' "$OUT")
assert_json "$udp" '.ok == false and .backend.port == 5353' "check: the DNS-like UDP pair fails too"

# --- the tracer ---
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 120
result=$(lab_connect 3) && fail "connect through the lab without kube-proxy's masquerade should fail, got: $result"
diag=$(wait_for_line '.type == "diagnosis" and .flow.dst == "172.24.0.1"' 20) ||
  fail "no diagnosis for 172.24.0.1 within 20 s of the failed connect: $(head -c 3000 "$OUT")"
assert_json "$diag" '.verdict == "asymmetric_source"' "verdict"
assert_json "$diag" '.flow.src == "172.24.0.1" and .flow.dport == 443' "flow (source: the service IP, from the local route)"
assert_json "$diag" '.dnat.ip == "10.0.0.8" and .dnat.port == 6443' "the backend IPVS chose"
assert_json "$diag" '.egress_dev == "enslf0" and .expected_source == "10.0.0.12"' "egress_dev"

ip netns exec "$NODE" nc -z -w 3 172.24.0.20 443 >/dev/null 2>&1 {E2E_OUT}>&- &&
  fail "connect to the virtual server with no real server should fail"
empty=$(wait_for_line '.type == "diagnosis" and .flow.dst == "172.24.0.20"' 20) ||
  fail "no diagnosis for 172.24.0.20 within 20 s of the refused connect: $(head -c 3000 "$OUT")"
assert_json "$empty" '.verdict == "no_endpoints"' "verdict for the virtual server with no real server"

# A pod's connection: IPVS takes it at LOCAL_IN (the service IP is the node's) and sends it on through
# LOCAL_OUT. It is forwarded, from the pod's source: unanswered without SNAT, not blamed on a route.
lab pod-up >/dev/null
[[ $(lab pod-connect --timeout 3) == *": failed" ]] || fail "the pod's connect without masquerading should fail"
pod=$(wait_for_line '.type == "diagnosis" and .flow.src == "10.244.0.2"' 20) ||
  fail "no diagnosis for the pod's flow within 20 s: $(head -c 3000 "$OUT")"
assert_json "$pod" '.verdict == "unanswered" and .forwarded == true' "pod flow: unanswered, forwarded"
assert_json "$pod" '.fix == null and .source_route == null and .dnat.ip == "10.0.0.8"' "pod flow: its backend, no route blamed"

# The printed fix must work: a source NAT (no route could change a local source).
fix=$(jq -r '.fix' <<<"$diag")
[[ $fix == "iptables -t nat -I POSTROUTING 1 "* ]] || fail "the printed fix is not the source NAT expected: $fix"
ip netns exec "$NODE" sh -c "$fix" || fail "the printed fix failed to run in $NODE: $fix"
result=$(lab_connect 3) || fail "connect still fails after applying the printed fix '$fix': $result"
ip netns exec "$NODE" sh -c "${fix/-I POSTROUTING 1/-D POSTROUTING}" || fail "could not take the printed fix away"

# kube-proxy's own way: its masquerade.
lab fix >/dev/null
result=$(lab_connect 3) || fail "connect should succeed with kube-proxy's masquerade, got: $result"
wait_for_count '.type == "outcome" and .state == "answered"' 2 20 ||
  fail "no 2 answered outcomes within 20 s of the connects that succeeded"
answered=$(wait_for_line '.type == "outcome" and .state == "answered" and .snat.ip == "10.0.0.12"' 1) ||
  fail "no answered outcome with its source NAT'd to 10.0.0.12"
assert_json "$answered" '.flow.dst == "172.24.0.1" and .dnat.ip == "10.0.0.8" and .dnat.port == 6443' "the answered flow, with its backend"

stop_svctrace
assert_exit 3
assert_detached
assert_ndjson
assert_report
assert_report_json '.config.ipvs | test("172.24.0.1:443")' "report.config.ipvs holds IPVS's table"

# Fixed: the API service's pair passes; the virtual server with no real server still fails.
run_check 3 --netns "$NODE" --cidr "$CIDR"
grep -q '^✓ tcp 172.24.0.1:443 → 10.0.0.8:6443 (ipvsadm virtual server): source 172.24.0.1 out enslf0, masqueraded to 10.0.0.12' "$OUT" ||
  fail "fixed lab: expected a ✓ line for the API service, got: $(cat "$OUT")"
grep -q '^✗ tcp 172.24.0.20:443 (ipvsadm virtual server): IPVS' "$OUT" ||
  fail "fixed lab: expected the ✗ line of the virtual server with no real server, got: $(cat "$OUT")"
pass
