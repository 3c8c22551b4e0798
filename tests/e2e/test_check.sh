#!/usr/bin/env bash
# `svctrace check`, with no traffic at all: on the incident's routes it names every service -> endpoint
# pair of the namespace's NAT rules that would fail, with the route and the fix, and exits 3; once the
# fix is applied it passes with exit 0.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab pod-up >/dev/null
before=$(ip netns exec "$NODE" conntrack -C 2>/dev/null || echo 0)
run_check 3 --netns "$NODE" --cidr "$CIDR" --json
assert_ndjson
tcp=$(jq -c 'select(.chain == "OUTPUT" and .service.proto == "tcp")' "$OUT")
assert_json "$tcp" '.ok == false and .verdict == "asymmetric_source"' "the API service pair fails"
assert_json "$tcp" '.service.ip == "172.24.0.1" and .service.port == 443 and .backend.ip == "10.0.0.8" and .backend.port == 6443' "pair"
assert_json "$tcp" '.source == "10.141.13.182" and .source_route == "default via 10.141.13.1 dev enslf1"' "source and route"
assert_json "$tcp" '.egress_dev == "enslf0" and .fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12"' "egress and fix"
udp=$(jq -c 'select(.service.proto == "udp")' "$OUT")
assert_json "$udp" '.ok == false and .backend.port == 5353' "the DNS-like UDP pair fails too"
# The pod's PREROUTING rule DNATs the same pair as OUTPUT's: one pair, checked once.
[[ $(wc -l <"$OUT") == 2 ]] || fail "expected 2 distinct pairs, got: $(cat "$OUT")"
after=$(ip netns exec "$NODE" conntrack -C 2>/dev/null || echo 0)
[[ $before == "$after" ]] || fail "check sent traffic: conntrack count went from $before to $after"

# Rules that exist but cannot be read are no pass: as nobody with no capability, iptables-save and nft
# fail, and check says so in one line and exits 1 (it exited 0, "all would work", before).
rc=0
ip netns exec "$NODE" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
  "$SVCTRACE" check --cidr "$CIDR" >"$OUT" 2>"$ERR" || rc=$?
last=$(tail -n 1 "$ERR")
((rc == 1)) && [[ $last == "svctrace: check: the NAT rules could not be read, so nothing was checked: "*"iptables-save -t nat\` exit "*"CAP_NET_ADMIN (run as root)" ]] ||
  fail "check without the right to read the rules: exit $rc, last stderr line: $last"

lab fix >/dev/null
run_check 0 --netns "$NODE" --cidr "$CIDR"
grep -q '^✓ tcp 172.24.0.1:443 → 10.0.0.8:6443 (iptables-save OUTPUT): source 10.0.0.12 out enslf0$' "$OUT" ||
  fail "fixed lab: expected a ✓ line for the API service, got: $(cat "$OUT")"
pass
