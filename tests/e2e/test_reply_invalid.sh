#!/usr/bin/env bash
# A reply that conntrack finds INVALID (here SYN|FIN|ACK, which no TCP sends, from a stand-in for a
# broken peer or middlebox) loses its conntrack entry and is dropped by the node's INVALID rule. The
# kernel's drop hook sees a packet with no entry; svctrace finds its flow by the reply's headers and
# calls it reply_invalid, with the device and the kernel's drop reason: not a route, not a local rule.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab fix >/dev/null
API=$PREFIX-api
ip netns exec "$NODE" iptables -t nat -A OUTPUT -d 172.24.0.9/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:7000
ip netns exec "$NODE" iptables -A INPUT -m conntrack --ctstate INVALID -j DROP
# The api's own stack must not answer port 7000 (a RST): only the stand-in does.
ip netns exec "$API" iptables -A INPUT -p tcp --dport 7000 -j DROP

replier_out=$WORK/replier.out
ip netns exec "$API" /usr/bin/python3 "$E2E_ROOT/tests/e2e/tools/invalid_replier.py" eth0 7000 4 30 >"$replier_out" 2>&1 {E2E_OUT}>&- &
replier=$!
kill_on_exit "$replier"
for ((i = 0; i < 200; i++)); do grep -qs ready "$replier_out" && break; sleep 0.05; done
grep -q ready "$replier_out" || fail "the replier did not start: $(cat "$replier_out")"

start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
ip netns exec "$NODE" nc -z -w 3 172.24.0.9 443 >/dev/null 2>&1 && fail "the connect should fail"
diag=$(wait_for_line '.type == "diagnosis" and .flow.dst == "172.24.0.9"' 10) || fail "no diagnosis"
assert_json "$diag" '.verdict == "reply_invalid"' "verdict"
assert_json "$diag" '.reply_dev == "enslf0" and .drop_reason == "NETFILTER_DROP"' "the device and the kernel's reason"
assert_json "$diag" '.fix == null and .source_route == null' "not blamed on a route"
assert_json "$diag" '.reason | test("conntrack found it INVALID")' "the reason says INVALID"
grep -q 'sent 1' "$replier_out" || fail "the replier sent nothing: $(cat "$replier_out")"
kill "$replier" 2>/dev/null || true
wait "$replier" 2>/dev/null || true
stop_svctrace
assert_exit 3
pass
