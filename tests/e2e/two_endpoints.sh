# shellcheck shell=bash
# Issue 17's service for the tests that source this after lib.sh: `two_endpoint_lab` brings the lab up
# with 172.24.0.1:443 on two endpoints, alternating (kube-proxy's chains, `-m statistic --mode nth`):
# 10.0.0.8 behind enslf0, the incident's asymmetric NIC, and 10.141.13.1 on enslf1's network, healthy
# (an echo server in the gw namespace; lab down kills what runs there). FIRST (enslf0 or enslf1) says
# which endpoint the first connect gets. NAT (iptables, the default, or nft) is the lab's `--nat`:
# with nft, kube-proxy's nftables mode, the service chain alternating between two endpoint chains.
two_endpoint_lab() {
  local first=${1:-enslf0} nat=${2:-iptables} i
  local gw=$PREFIX-gw
  lab up --nat "$nat" >/dev/null
  "two_endpoints_$nat" "$first"
  setsid ip netns exec "$gw" socat TCP-LISTEN:6443,fork,reuseaddr EXEC:/bin/cat </dev/null >/dev/null 2>&1 {E2E_OUT}>&- &
  for ((i = 0; i < 200; i++)); do
    ip netns exec "$gw" ss -Hltn 'sport = :6443' | grep -q . && return 0
    sleep 0.05
  done
  fail "the healthy endpoint's listener did not come up"
}

# The lab's one-endpoint DNAT gives way to kube-proxy's layout with the second endpoint.
two_endpoints_iptables() {
  local first=$1 second=enslf1
  [[ $first == enslf1 ]] && second=enslf0
  ip netns exec "$NODE" iptables -t nat -D OUTPUT -d 172.24.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6443
  ip netns exec "$NODE" iptables-restore --noflush <<RULES
*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-API - [0:0]
:KUBE-SEP-ENSLF0 - [0:0]
:KUBE-SEP-ENSLF1 - [0:0]
-A OUTPUT -j KUBE-SERVICES
-A KUBE-SERVICES -d 172.24.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-API
-A KUBE-SVC-API -m statistic --mode nth --every 2 --packet 0 -j KUBE-SEP-${first^^}
-A KUBE-SVC-API -j KUBE-SEP-${second^^}
-A KUBE-SEP-ENSLF0 -p tcp -m tcp -j DNAT --to-destination 10.0.0.8:6443
-A KUBE-SEP-ENSLF1 -p tcp -m tcp -j DNAT --to-destination 10.141.13.1:6443
COMMIT
RULES
}

# The lab's service chain (scripts/lab.sh nft_kube_proxy) gets a second endpoint chain and takes
# turns between the two (`numgen inc`: the first connect gets the chain in slot 0).
two_endpoints_nft() {
  local svc=service-NPX46M4P-default/kubernetes/tcp/https
  local -A ep=([enslf0]=endpoint-K3PWAY5L-default/kubernetes/tcp/https__10.0.0.8/6443
    [enslf1]=endpoint-QZ5BV7WD-default/kubernetes/tcp/https__10.141.13.1/6443)
  local second=enslf1
  [[ $1 == enslf1 ]] && second=enslf0
  ip netns exec "$NODE" nft -f - <<RULES
add chain ip kube-proxy ${ep[enslf1]}
add rule ip kube-proxy ${ep[enslf1]} meta l4proto tcp dnat to 10.141.13.1:6443
flush chain ip kube-proxy $svc
add rule ip kube-proxy $svc numgen inc mod 2 vmap { 0 : goto ${ep[$1]}, 1 : goto ${ep[$second]} }
RULES
}

# connects_ok N: N bounded connects to 172.24.0.1:443; prints how many worked.
connects_ok() {
  local ok=0 i
  for ((i = 0; i < $1; i++)); do lab_connect 2 >/dev/null && ok=$((ok + 1)); done
  echo "$ok"
}

# diagnose_connects N OK: N connects, OK of which (the healthy endpoint's) must work; then the first
# diagnosis, into DIAG, which must be the broken endpoint's; svctrace is stopped.
diagnose_connects() {
  local ok
  ok=$(connects_ok "$1")
  ((ok == $2)) || fail "expected $2 of $1 connects (the healthy endpoint's) to work, got $ok"
  DIAG=$(wait_for_line '.type == "diagnosis"' 15) || fail "no diagnosis"
  stop_svctrace
  assert_json "$DIAG" '.verdict == "asymmetric_source" and .dnat.ip == "10.0.0.8"' "diagnoses the broken endpoint"
}
