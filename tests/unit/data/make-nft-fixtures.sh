#!/usr/bin/env bash
# Regenerates the nft fixtures of the unit tests from a real nft: each *.nft here is loaded with
# `nft -f` into a network namespace of its own, and the namespace's ruleset dumped with
# `nft -j list ruleset` (pretty-printed with jq) into *-nft.json. kube-proxy-nft.json also gets
# iptables-nft rules, as a node that ran kube-proxy's iptables mode before keeps them (their DNAT is an
# xt statement in nft's JSON, which the nft parser leaves to iptables-save), and one rule added with
# nft to iptables-nft's own nat table (which iptables-save then refuses to print; nft must read it).
# Usage (root): tests/unit/data/make-nft-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")"
((EUID == 0)) || { echo "make-nft-fixtures: must run as root" >&2; exit 1; }
ns=svctrace-fixture-$$
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
for src in kube-proxy plain; do
  ip netns add "$ns"
  ip netns exec "$ns" nft -f "$src.nft"
  if [[ $src == kube-proxy ]]; then
    ip netns exec "$ns" iptables -t nat -N KUBE-SEP-OLD
    ip netns exec "$ns" iptables -t nat -A OUTPUT -d 172.24.0.1/32 -p tcp -m tcp --dport 443 \
      -m comment --comment "default/kubernetes:https" -j KUBE-SEP-OLD
    ip netns exec "$ns" iptables -t nat -A KUBE-SEP-OLD -p tcp -j DNAT --to-destination 10.0.0.99:6443
    ip netns exec "$ns" iptables -t nat -A OUTPUT -d 172.24.0.50/32 -p tcp --dport 80 -j DNAT --to-destination 10.0.0.98:80
    ip netns exec "$ns" nft add rule ip nat OUTPUT ip daddr 172.24.0.60 tcp dport 80 dnat to 10.0.0.97:80
  fi
  ip netns exec "$ns" nft -j list ruleset | jq . >"$src-nft.json"
  ip netns del "$ns"
  echo "make-nft-fixtures: $src-nft.json"
done
