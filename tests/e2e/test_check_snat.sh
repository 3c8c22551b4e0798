#!/usr/bin/env bash
# `svctrace check` follows the node's source NAT: on the incident's routes (default via enslf1), with
# the API service laid out as kube-proxy lays it out when it knows the pod CIDR (the service chain
# marks traffic from outside it, `! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`, and KUBE-POSTROUTING
# masquerades what is marked), the node's connections leave enslf0 masqueraded to 10.0.0.12 and work:
# check passes (exit 0) and says so, and a real connect proves it. With the pod CIDR given as
# 10.0.0.0/8, which holds the node's 10.141.13.182, the exception leaves that traffic unmasqueraded:
# check fails (exit 3) naming what the masquerade covers, and the connect fails. The same with
# iptables-legacy's rules (when this kernel has its tables), and with kube-proxy's nftables mode.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kube_proxy.sh
source "$(dirname "$0")/kube_proxy.sh"

command -v nft >/dev/null || fail "nft is not installed (scripts/install-deps.sh installs nftables)"
API_PAIR='select(.service.ip == "172.24.0.1")'

# check_masqueraded CHAIN RULES...: check passes the API pair, masqueraded to 10.0.0.12 by CHAIN (of
# RULES, "iptables-save" or "nft"), and the node's connect to the service succeeds.
check_masqueraded() {
  local chain=$1 rules=$2
  shift 2
  run_check 0 "$@" --netns "$NODE" --cidr "$CIDR" --json
  local api
  api=$(jq -c "$API_PAIR" "$OUT")
  assert_json "$api" '.ok == true and .source == "10.141.13.182" and .seen_source == "10.0.0.12" and .egress_dev == "enslf0"' \
    "$rules: the node's source, masqueraded to enslf0's address"
  assert_json "$api" ".source_nat == {\"action\": \"masquerade\", \"to\": \"10.0.0.12\", \"rules\": \"$rules\", \"chain\": \"$chain\"}" \
    "$rules: the masquerade named"
  assert_json "$api" '.fix == null or .fix == ""' "$rules: no fix for a pair that works"
  run_check 0 "$@" --netns "$NODE" --cidr "$CIDR"
  grep -q "^✓ tcp 172.24.0.1:443 default/kubernetes:https → 10.0.0.8:6443 .*: source 10.141.13.182 out enslf0, masqueraded to 10.0.0.12 ($rules $chain)\$" "$OUT" ||
    fail "$rules: expected a ✓ line saying the pair is masqueraded: $(cat "$OUT")"
  lab_connect >/dev/null || fail "$rules: check passed the node, but its connect to the service failed"
}

# check_not_masqueraded RULES TEXT: check fails the API pair (the pod CIDR 10.0.0.0/8 holds the node's
# source), its human output says what the masquerade covers (TEXT), and the connect fails too.
check_not_masqueraded() {
  local rules=$1 text=$2
  shift 2
  run_check 3 "$@" --netns "$NODE" --cidr "$CIDR"
  grep -q '^✗ tcp 172.24.0.1:443 default/kubernetes:https → 10.0.0.8:6443 .*: source 10.141.13.182 chosen by route "default via 10.141.13.1 dev enslf1"' "$OUT" ||
    fail "$rules, pod CIDR 10.0.0.0/8: expected the API pair to fail: $(cat "$OUT")"
  grep -qxF "  source NAT: $text" "$OUT" || fail "$rules: expected '  source NAT: $text', got: $(cat "$OUT")"
  grep -qE '^  fix \(checked against [0-9]+ service pairs?\): ip route add 172\.24\.0\.0/13 dev enslf0 src 10\.0\.0\.12$' "$OUT" || fail "$rules: no fix: $(cat "$OUT")"
  if lab_connect 2 >/dev/null; then fail "$rules: check failed the node, but its connect to the service worked"; fi
}

lab up >/dev/null

# iptables (Debian's iptables-nft).
kube_proxy_iptables 10.244.0.0/16 | ip netns exec "$NODE" iptables-restore
check_masqueraded KUBE-POSTROUTING iptables-save
kube_proxy_iptables 10.0.0.0/8 | ip netns exec "$NODE" iptables-restore
check_not_masqueraded iptables-save \
  "iptables-save KUBE-POSTROUTING masquerades it only when source not in 10.0.0.0/8, or when source 10.0.0.8"
ip netns exec "$NODE" nft delete table ip nat

# iptables-legacy: the same text from iptables-legacy-save, in its own tables.
mkdir "$WORK/legacy"
ln -s "$(command -v nft)" "$WORK/legacy/nft"
for tool in iptables ip6tables; do
  legacy=$(command -v "$tool-legacy-save" || true)
  [[ -n $legacy ]] && ln -s "$legacy" "$WORK/legacy/$tool-save"
done
if [[ -e $WORK/legacy/iptables-save ]] &&
  kube_proxy_iptables 10.244.0.0/16 | ip netns exec "$NODE" iptables-legacy-restore 2>/dev/null; then
  PATH=$WORK/legacy:$PATH check_masqueraded KUBE-POSTROUTING iptables-save
  kube_proxy_iptables 10.0.0.0/8 | ip netns exec "$NODE" iptables-legacy-restore
  PATH=$WORK/legacy:$PATH check_not_masqueraded iptables-save \
    "iptables-save KUBE-POSTROUTING masquerades it only when source not in 10.0.0.0/8, or when source 10.0.0.8"
  printf '*nat\nCOMMIT\n' | ip netns exec "$NODE" iptables-legacy-restore
  legacy_checked=1
fi

# kube-proxy's nftables mode.
kube_proxy_nft 10.244.0.0/16 | ip netns exec "$NODE" nft -f -
check_masqueraded "ip kube-proxy masquerading" nft
ip netns exec "$NODE" nft delete table ip kube-proxy
kube_proxy_nft 10.0.0.0/8 | ip netns exec "$NODE" nft -f -
check_not_masqueraded nft \
  "nft ip kube-proxy masquerading masquerades it only when source not in 10.0.0.0/8, or when source 10.0.0.8"

[[ -n ${legacy_checked:-} ]] || echo "  (iptables-legacy's tables are not available here: only iptables-nft and nft were checked)" >&"$E2E_OUT"
pass
