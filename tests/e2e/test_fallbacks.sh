#!/usr/bin/env bash
# Every hook fallback, forced by its flag, still catches the incident on this kernel: the raw
# tracepoint for the route decision, and the driver-queue hook that stands in for netfilter links on
# kernels before 6.4. fexit is asked for too (route and NAT): it either works or is refused with a
# clear error.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
run_incident() { # hook flags...
  : >"$OUT"
  start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60 "$@"
  lab connect --timeout 2 >/dev/null
  diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis with $*"
  assert_json "$diag" '.verdict == "asymmetric_source"' "verdict with $*"
  assert_json "$diag" '.source_route == "default via 10.141.13.1 dev enslf1" and .egress_dev == "enslf0"' "route with $*"
  assert_json "$diag" '.dnat.ip == "10.0.0.8"' "DNAT target with $*"
  stop_svctrace
  assert_exit 3
  assert_detached
}

run_incident --route-hook raw_tp
assert_json "$(head -n1 "$OUT")" 'any(.hooks[]; .hook == "raw_tp/fib_table_lookup")' "raw_tp route hook is live"
run_incident --nat-hook net_dev_queue
assert_json "$(head -n1 "$OUT")" 'any(.hooks[]; .hook == "tp_btf/net_dev_queue") and all(.hooks[]; .hook | test("netfilter") | not)' \
  "net_dev_queue NAT hook is live, no netfilter link"

# fexit, for the route and for the NAT role: refused on kernels that forbid BPF trampolines (as
# these build machines do), else used; the NAT role's catches the incident.
fexit_accepted() { # hook-flag program hook
  local rc=0 err
  err=$("$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --json "$1" fexit --duration 0.2 2>&1 >"$OUT") || rc=$?
  if ((rc == 0)); then
    assert_json "$(head -n1 "$OUT")" "any(.hooks[]; .hook == \"$3\")" "$1 fexit is live when accepted"
    return 0
  fi
  [[ $rc == 1 && $err == *"refused svctrace's BPF program $2"* ]] ||
    fail "a refused $1 fexit must be one clear error and exit 1, got $rc: $err"
  return 1
}
fexit_accepted --route-hook route_fexit fexit/fib_table_lookup || true
if fexit_accepted --nat-hook nat_hook_slow fexit/nf_hook_slow; then
  run_incident --nat-hook fexit
  assert_json "$(head -n1 "$OUT")" 'all(.hooks[]; .hook | test("netfilter|net_dev_queue") | not)' \
    "fexit NAT hook alone serves the NAT role"
fi
# --hooks says what serves each role, and why the others were refused.
table=$("$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --hooks --route-hook raw_tp --nat-hook net_dev_queue)
grep -Eq '^route +raw_tp/fib_table_lookup +live$' <<<"$table" || fail "--hooks: raw_tp not live: $table"
grep -Eq '^nat +tp_btf/net_dev_queue +live \(no BPF netfilter links before 6.4: [^)]*\)$' <<<"$table" ||
  fail "--hooks: net_dev_queue not live, with what it does not see: $table"
grep -Eq '^nat +tp_btf/netif_receive_skb +live' <<<"$table" || fail "--hooks: netif_receive_skb not live: $table"
table=$("$SVCTRACE" --netns "$NODE" --cidr "$CIDR" --hooks)
grep -Eq '^route +(fexit|tp_btf)/fib_table_lookup +live( \(.*\))?$' <<<"$table" || fail "--hooks: no live route hook: $table"
if grep -q '^route +fexit/fib_table_lookup +refused' <<<"$table"; then
  grep -Eq '^route +tp_btf/fib_table_lookup +live( \(.*\))?$' <<<"$table" || fail "--hooks: refused fexit without fallback"
fi
# With the net_dev_queue NAT hook, the reply is found by its headers as it is received, and the drop hook
# joins its drop to the flow: the SYN-ACK that strict rp_filter drops on enslf1.
lab rpfilter >/dev/null
: >"$OUT"
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --duration 60 --nat-hook net_dev_queue
lab connect --timeout 3 >/dev/null
# (The lab's earlier connects are in the conntrack table: their diagnoses come first, as preexisting.)
diag=$(wait_for_line '.type == "diagnosis" and (.preexisting | not)' 10) || fail "no diagnosis with net_dev_queue under rp_filter"
assert_json "$diag" '.verdict == "reply_dropped" and .reply_dev == "enslf1"' "net_dev_queue: the reply is seen, on enslf1"
assert_json "$diag" '.evidence.drops.count >= 1 and .drop_reason == "IP_RPFILTER"' "net_dev_queue: the reply's drop is seen"
stop_svctrace
assert_exit 3
assert_detached
pass
