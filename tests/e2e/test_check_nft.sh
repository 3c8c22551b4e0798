#!/usr/bin/env bash
# `svctrace check` on a node whose service DNAT is nftables': the API service laid out as kube-proxy's
# nftables mode lays it out (service-ips map -> service chain -> endpoint chain), the DNS-like service
# as a hand-written `dnat to` rule (`lab up --nat nft`), plus an iptables rule for the API service left
# behind by kube-proxy's iptables mode (iptables-nft: in nf_tables too, where nft's JSON shows its DNAT
# as an xt statement). With no traffic: every pair is found once, with where it was found, the
# broken ones fail with exit 3, and after the fix all pass. Then the same offline (--nft-json), with
# nft missing (an info line, not an error), with files that are not what their flag says (exit 2, one
# line), and over IPv6.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v nft >/dev/null || fail "nft is not installed (scripts/install-deps.sh installs nftables)"
API_EP_CHAIN="ip kube-proxy endpoint-K3PWAY5L-default/kubernetes/tcp/https__10.0.0.8/6443"

lab up --nat nft >/dev/null
ip netns exec "$NODE" iptables -t nat -A OUTPUT -d 172.24.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6443
before=$(ip netns exec "$NODE" conntrack -C 2>/dev/null || echo 0)
run_check 3 --netns "$NODE" --cidr "$CIDR" --json
assert_ndjson
[[ $(wc -l <"$OUT") == 2 ]] || fail "expected 2 distinct pairs, got: $(cat "$OUT")"
tcp=$(jq -c 'select(.service.proto == "tcp")' "$OUT")
assert_json "$tcp" '.ok == false and .verdict == "asymmetric_source"' "the API service pair fails"
assert_json "$tcp" '.service.ip == "172.24.0.1" and .service.port == 443 and .backend.ip == "10.0.0.8" and .backend.port == 6443' "pair"
assert_json "$tcp" ".found_in == [{\"rules\": \"iptables-save\", \"chain\": \"OUTPUT\"}, {\"rules\": \"nft\", \"chain\": \"$API_EP_CHAIN\"}]" \
  "one pair, found by both readers (the iptables rule is not read a second time from nft's xt statement)"
assert_json "$tcp" '.source == "10.141.13.182" and .egress_dev == "enslf0" and .fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12"' "source and fix"
udp=$(jq -c 'select(.service.proto == "udp")' "$OUT")
assert_json "$udp" '.ok == false and .service.ip == "172.24.0.10" and .service.port == 53 and .backend.port == 5353' "the DNS-like pair fails too"
assert_json "$udp" '.found_in == [{"rules": "nft", "chain": "ip lab-dns output"}]' "the hand-written nft rule"
after=$(ip netns exec "$NODE" conntrack -C 2>/dev/null || echo 0)
[[ $before == "$after" ]] || fail "check sent traffic: conntrack count went from $before to $after"

# Offline: the ruleset captured with nft, checked against the node's routes.
ip netns exec "$NODE" nft -j list ruleset >"$WORK/ruleset.json"
run_check 3 --netns "$NODE" --cidr "$CIDR" --nft-json "$WORK/ruleset.json" --json
[[ $(jq -c '[.service.proto, .found_in[].rules]' "$OUT" | sort | paste -sd ' ') == '["tcp","nft"] ["udp","nft"]' ]] ||
  fail "check --nft-json reads that file only: $(cat "$OUT")"

# nft not installed: said on stderr, not an error; iptables-save's pair is still checked.
mkdir "$WORK/bin"
ln -s "$(command -v iptables-save)" "$(command -v ip6tables-save)" "$WORK/bin/"
rc=0
PATH=$WORK/bin "$SVCTRACE" check --netns "$NODE" --cidr "$CIDR" --json >"$WORK/no-nft" 2>"$WORK/no-nft.err" || rc=$?
[[ $rc == 3 ]] || fail "check without nft: exit $rc, expected 3: $(cat "$WORK/no-nft.err")"
grep -qx 'svctrace: info: nft is not installed (not on PATH): the nftables rules are not read' "$WORK/no-nft.err" ||
  fail "check without nft: expected an info line saying so, stderr: $(cat "$WORK/no-nft.err")"
[[ $(jq -c '.found_in' "$WORK/no-nft") == '[{"chain":"OUTPUT","rules":"iptables-save"}]' ]] ||
  fail "check without nft: expected iptables-save's pair only: $(cat "$WORK/no-nft")"

# A file that is not what its flag says: one line, exit 2.
echo 'garbage' >"$WORK/garbage.json"
run_check 2 --cidr "$CIDR" --nft-json "$WORK/garbage.json"
[[ $(<"$ERR") == "svctrace: --nft-json: $WORK/garbage.json: not JSON (parse error at byte 1)" && ! -s $OUT ]] ||
  fail "--nft-json garbage: expected one line on stderr: $(cat "$ERR")"
run_check 2 --cidr "$CIDR" --iptables-save "$WORK/ruleset.json"
[[ $(<"$ERR") == "svctrace: --iptables-save: $WORK/ruleset.json: not iptables-save output: line 1 is \`{\"nftables\": "*"...\`" && ! -s $OUT ]] ||
  fail "--iptables-save given nft's JSON: expected one line on stderr: $(cat "$ERR")"

lab fix >/dev/null
run_check 0 --netns "$NODE" --cidr "$CIDR"
grep -qxF "✓ tcp 172.24.0.1:443 default/kubernetes:https → 10.0.0.8:6443 (iptables-save OUTPUT, nft $API_EP_CHAIN): source 10.0.0.12 out enslf0" "$OUT" ||
  fail "fixed lab: expected a ✓ line for the API service naming it and both readers, got: $(cat "$OUT")"
# The nftables DNAT is real: with the fix, the service answers through it.
ip netns exec "$NODE" iptables -t nat -F OUTPUT
[[ $(lab connect --timeout 3) == *": ok" ]] || fail "the fixed nft lab does not connect to the service"

# IPv6: kube-proxy's ip6 table.
lab ipv6 >/dev/null
run_check 3 --netns "$NODE" --cidr fd00:10:96::/112 --json
assert_json "$(cat "$OUT")" '.ok == false and .service.ip == "fd00:10:96::1" and .backend.ip == "fd00:0:0:1::8" and .backend.port == 6443' "IPv6 pair"
assert_json "$(cat "$OUT")" '.found_in == [{"rules": "nft", "chain": "ip6 kube-proxy endpoint-K3PWAY5L-default/kubernetes/tcp/https__fd00.0.0.1..8/6443"}]' "from nft's ip6 table"
lab fix6 >/dev/null
run_check 0 --netns "$NODE" --cidr fd00:10:96::/112
pass
