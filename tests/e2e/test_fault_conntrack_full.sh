#!/usr/bin/env bash
# Fault while tracing: the traced namespace's conntrack table is full, and the kernel drops every new
# flow's first packet ("nf_conntrack: table full, dropping packet") before NAT. svctrace must report such
# a connect as dropped on this node, before conntrack made it an entry, with the kernel's drop reason,
# and blame no route (no fix); and the incident and a healthy flow before and after are reported.
#
# The limit, net.netfilter.nf_conntrack_max, is one for the whole kernel: a namespace other than the
# first may only read it, and lowering it would fill the tables of every namespace on this shared
# machine. The count it is compared with is the namespace's own, so the test fills the node
# namespace's table up to the limit instead: established, assured entries (which the kernel does not
# evict early to make room), inserted through ctnetlink with `conntrack -R`, then flushed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

in_node() { ip netns exec "$NODE" "$@"; }
# What conntrack counts as dropped (its table full, among others), over every CPU.
drops_counted() { in_node conntrack -S | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^drop=/) n += substr($i, 6) } END { print n + 0 }'; }

# fill_conntrack: NODE's table up to nf_conntrack_max, in two halves inserted side by side. The
# entries are of made-up flows 10.9.N.1 -> 10.9.200.2:80 that no packet ever belongs to. The table is
# flushed first: the entries of the flows before (a SYN_SENT, a TIME_WAIT, a CLOSE that expires in
# 10 s) are ones the kernel may evict or expire to make room for a new flow, and then it is not full.
fill_conntrack() {
  local max count want
  in_node conntrack -F >/dev/null 2>&1
  max=$(in_node cat /proc/sys/net/netfilter/nf_conntrack_max)
  count=$(in_node cat /proc/sys/net/netfilter/nf_conntrack_count)
  want=$((max - count))
  awk -v n="$want" -v dir="$WORK" 'BEGIN {
    for (i = 0; i < n; i++)
      printf "-I -p tcp -s 10.9.%d.1 -d 10.9.200.2 --sport %d --dport 80 --state ESTABLISHED -t 600 -u ASSURED,SEEN_REPLY\n",
        int(i / 60000), 1024 + i % 60000 > (dir "/fill" (i % 2))
  }'
  in_node conntrack -R "$WORK/fill0" >"$WORK/fill0.log" 2>&1 &
  local half=$!
  in_node conntrack -R "$WORK/fill1" >"$WORK/fill1.log" 2>&1 || true
  wait "$half" || true
  count=$(in_node cat /proc/sys/net/netfilter/nf_conntrack_count)
  ((count == max)) || fail "conntrack's table holds $count entries, not its limit $max: $(tail -n 2 "$WORK"/fill*.log)"
  echo "filled: $want entries inserted, $count of $max" >>"$WORK/figures"
}

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 300

incident_then_healthy "before the table filled" 1 # leaves the lab fixed

SECONDS=0
fill_conntrack
echo "fill took $SECONDS s" >>"$WORK/figures"
kill -0 "$SVC_PID" 2>/dev/null || fail "svctrace died while the conntrack table filled"
drops_before=$(drops_counted)
result=$(lab_connect 3) && fail "connect with conntrack's table full should fail, got: $result"
(($(drops_counted) > drops_before)) || fail "conntrack counted no drop: the table was not full for the connect"
full=$(wait_for_line '.type == "diagnosis" and .verdict != "asymmetric_source"' 20) ||
  fail "no diagnosis within 20 s of the connect conntrack dropped"
assert_json "$full" '.verdict == "dropped_here"' "the connect dropped for a full table: verdict"
assert_json "$full" '.flow.src == "10.0.0.12" and .flow.dst == "172.24.0.1"' "the connect dropped for a full table: its flow"
assert_json "$full" '.fix == null and .source_route == null' "the full table is not blamed on a route"
assert_json "$full" '.drop_reason == "NETFILTER_DROP"' "the kernel's drop reason"
assert_json "$full" '.reason | test("before conntrack made them an entry") and test("table is full")' \
  "the reason says conntrack's table"

in_node conntrack -F >/dev/null 2>&1
incident_then_healthy "after the table was flushed" 2

stop_svctrace
assert_fault_survived 3
assert_report_json '[.flows[] | select(.verdict == "asymmetric_source")] | length == 2' "the report has both incidents"
assert_report_json '[.flows[] | select(.state == "answered")] | length == 2' "the report has both answered flows"
assert_report_json '[.flows[] | select(.verdict == "dropped_here")] | length == 1' "the report has the dropped flow"

pass
