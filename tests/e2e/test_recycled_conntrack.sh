#!/usr/bin/env bash
# Conntrack recycles the memory of a finished entry for the next one at once (a refused SYN's entry is
# killed by its RST), and svctrace's in-kernel flow table is keyed by that address. A UDP query made
# right after a refused connection must still be seen answered: a new flow must not inherit the old
# flow's "already replied" mark and be reported unanswered.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

rounds=8
lab up >/dev/null
lab fix >/dev/null
# A service DNAT'd to a closed port of the api namespace: every connection to it is refused by RST.
ip netns exec "$NODE" iptables -t nat -A OUTPUT -d 172.24.0.2/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6444

start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 60 --unanswered-after 1000
for ((i = 0; i < rounds; i++)); do
  ip netns exec "$NODE" nc -z -w 1 172.24.0.2 443 >/dev/null 2>&1 || true
  result=$(lab udp --timeout 2)
  [[ $result == *answered* && $result != *"no answer"* ]] || fail "round $i: the fixed lab should answer UDP, got: $result"
done
wait_for_count '.type == "outcome" and .flow.proto == "udp" and .state == "answered"' "$rounds" 5 ||
  fail "not every answered UDP query was reported answered: $(jq -cR 'fromjson? | select(.type == "outcome" or .type == "diagnosis") | [.flow.proto, .state, .verdict]' "$OUT" | sort | uniq -c)"
stop_svctrace
assert_exit 3 # the refused connections are diagnosed
assert_report_json "[.flows[] | select(.flow.proto == \"udp\" and .verdict == \"answered\")] | length == $rounds" \
  "report: every UDP query answered"
assert_report_json "[.flows[] | select(.flow.proto == \"tcp\" and .verdict == \"refused\")] | length == $rounds" \
  "report: every refused connection refused"
assert_report_json '[.diagnoses[] | select(.flow.proto == "udp")] | length == 0' "no UDP query diagnosed"
pass
