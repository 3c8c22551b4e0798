#!/usr/bin/env bash
# Flow state is bounded on both sides by --max-flows: the correlator's table and the BPF LRU map of
# flows awaiting a reply. A burst of more flows than that evicts, and the evictions are counted.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60 --max-flows 16 --stats-interval 0.2
# 100 one-packet UDP flows, from inside the node namespace only. Source ports are chosen, not left to
# the kernel: 100 random ephemeral ports repeat one about one run in five, and a repeat is the same
# conntrack entry, so one flow fewer.
ip netns exec "$NODE" bash -c 'for i in $(seq 100); do
  echo x | socat -u - "UDP:172.24.0.10:53,sourceport=$((40000 + i))"; done' 2>/dev/null || true
# Flows evicted within one batch of events are never announced, so wait on the counters instead.
wait_for_line '.type == "stats" and .bpf_flows_evicted >= 84 and .flows_evicted >= 84' 10 >/dev/null ||
  fail "the burst's evictions were not counted within 10 s"
stop_svctrace
summary=$(jq -cR 'fromjson? | select(.type == "summary")' "$OUT")
assert_json "$summary" '.stats.flows <= 16 and .stats.flows_evicted >= 84' "userspace flow table bounded, evictions counted"
assert_json "$summary" '.stats.bpf_flows <= 16 and .stats.bpf_flows_capacity == 16' "BPF flow map bounded"
assert_json "$summary" '.stats.bpf_flows_evicted >= 84' "BPF LRU evictions counted"
assert_json "$summary" '.stats.ringbuf_drops == 0' "no event lost"
pass
