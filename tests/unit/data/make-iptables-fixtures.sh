#!/usr/bin/env bash
# Regenerates the iptables fixture of the unit tests from a real iptables: kube-proxy.iptables and
# kube-proxy.ip6tables (kube-proxy's rules, as its proxier writes them) are loaded with
# iptables-restore and ip6tables-restore into a network namespace of their own, and the namespace's
# NAT tables dumped as svctrace reads them from a node (`iptables-save -t nat`, then
# `ip6tables-save -t nat`) into kube-proxy-iptables-save.txt.
# Usage (root): tests/unit/data/make-iptables-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")"
((EUID == 0)) || { echo "make-iptables-fixtures: must run as root" >&2; exit 1; }
ns=svctrace-fixture-$$
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns add "$ns"
ip netns exec "$ns" iptables-restore <kube-proxy.iptables
ip netns exec "$ns" ip6tables-restore <kube-proxy.ip6tables
{
  ip netns exec "$ns" iptables-save -t nat
  ip netns exec "$ns" ip6tables-save -t nat
} >kube-proxy-iptables-save.txt
echo "make-iptables-fixtures: kube-proxy-iptables-save.txt"
