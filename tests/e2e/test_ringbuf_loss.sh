#!/usr/bin/env bash
# With a deliberately tiny ring buffer and svctrace stopped (SIGSTOP) while a bounded burst of UDP
# flows goes out, the kernel side cannot deliver every event: the loss must be counted and reported.
# With --all-flows, so that every flow is a record at once: by default the kernel holds the burst's
# flows (bpf/lib/held.bpf.h), and svctrace reads them out of its table when it runs again.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 60 --ringbuf-size 4096
kill -STOP "$SVC_PID"
# 200 one-packet UDP flows (a new source port each), from inside the node namespace only.
ip netns exec "$NODE" bash -c 'for i in $(seq 200); do echo x >/dev/udp/172.24.0.10/53; done' 2>/dev/null || true
kill -CONT "$SVC_PID"
stop_svctrace
# Exit 0 or 3: whether a surviving flow was diagnosed before the stop does not matter here.
[[ $SVC_RC == 0 || $SVC_RC == 3 ]] || fail "svctrace exit status: expected 0 or 3, actual '$SVC_RC'"
summary=$(jq -cR 'fromjson? | select(.type == "summary")' "$OUT")
assert_json "$summary" '.stats.ringbuf_drops > 0' "ring-buffer drops are counted"
assert_json "$summary" '.stats.events < 600' "fewer events arrived than the burst produced"
assert_report_json '.stats.ringbuf_drops > 0' "report carries the drop count"
grep -qE "events? (were|was) lost" "$ERR" || fail "the loss is said on stderr"
pass
