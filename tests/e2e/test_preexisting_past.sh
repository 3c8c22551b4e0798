#!/usr/bin/env bash
# Failures from before svctrace started are the past (issue 15, item 2): connects that failed through
# the broken route leave unreplied entries in the conntrack table for two minutes. Started after the
# fix, svctrace shows them as preexisting, decided by conntrack's word and not timed by its own wait,
# and they alone do not make the exit status 3: a new connect that works decides.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
# Two connects that give up after 1 s: their sockets are gone, their conntrack entries stay.
lab connect --timeout 1 >/dev/null || true
lab connect --timeout 1 >/dev/null || true
n=$(ip netns exec "$NODE" conntrack -L -d 172.24.0.1 2>/dev/null | grep -c UNREPLIED || true)
((n >= 1)) || fail "the failed connects left no unreplied conntrack entry (got $n)"
lab fix >/dev/null

start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 60
past=$(wait_for_line '.type == "diagnosis" and .preexisting == true' 5) ||
  fail "the failed connects from before the start were not shown as preexisting"
assert_json "$past" '.flow.src == "10.141.13.182" and .evidence.waited_ms == 0' \
  "a preexisting failure: its source, and no wait of svctrace's"
lab_connect >/dev/null || fail "the fixed lab should connect"
wait_for_line '.type == "outcome" and .state == "answered" and (.preexisting | not)' 5 >/dev/null ||
  fail "the new connect was not reported answered"
stop_svctrace
assert_exit 0
assert_report_json 'any(.flows[]; .preexisting and .state == "unanswered")' "report: the past failure, as preexisting"
pass
