#!/usr/bin/env bash
# The api can answer the wrong source through the gw, so the SYN-ACK comes back on enslf1, where strict
# rp_filter drops it. svctrace must say the reply was dropped, by rp_filter (the kernel's drop reason,
# named from its BTF), on enslf1, and still print the route fix that removes the cause.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab rpfilter >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
lab connect --timeout 3 >/dev/null
diag=$(wait_for_line '.type == "diagnosis"' 10) || fail "no diagnosis within 10 s"
assert_json "$diag" '.verdict == "reply_dropped"' "verdict"
assert_json "$diag" '.reply_dev == "enslf1" and .evidence.drops.dev == "enslf1" and .evidence.drops.count >= 1' \
  "the reply arrived and was dropped on enslf1"
assert_json "$diag" '.fix == "ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12"' "fix removes the cause"
stop_svctrace
assert_exit 3
assert_detached
if kernel_before 5.17; then
  assert_json "$diag" '.drop_reason | test("^unknown")' "no drop reason is made up"
  skip "all else passed; kfree_skb gives no drop reason before Linux 5.17, so rp_filter is not named"
fi
assert_json "$diag" '.drop_reason == "IP_RPFILTER"' "drop reason from the kernel's BTF"
assert_json "$diag" '.reason | test("rp_filter on enslf1")' "reason names rp_filter and the device"
pass
