#!/usr/bin/env bash
# A pod's flow to a Service whose backend is the node itself (the API server of a control-plane node,
# a hostNetwork pod, a kind or k3s cluster): DNAT in the node's PREROUTING to one of its own addresses.
# The SYN is delivered here and never reaches POST_ROUTING, and the SYN-ACK starts here and leaves by
# LOCAL_OUT, never passing PRE_ROUTING. The flow is answered, not diagnosed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

POD=$PREFIX-pod
lab up >/dev/null
lab pod-up >/dev/null
ip netns exec "$NODE" iptables -t nat -A PREROUTING -d 172.24.0.20/32 -p tcp --dport 80 \
  -j DNAT --to-destination 10.244.0.1:8080
ip netns exec "$NODE" socat TCP-LISTEN:8080,bind=10.244.0.1,reuseaddr,fork SYSTEM:true {E2E_OUT}>&- &
kill_on_exit $!
for ((i = 0; i < 100; i++)); do
  ip netns exec "$NODE" ss -Hltn 'sport = :8080' | grep -q . && break
  sleep 0.05
done

start_svctrace --netns "$NODE" --cidr "$CIDR" --json --all-flows --report "$REPORT" --duration 60

for round in 1 2; do
  ip netns exec "$POD" nc -z -w 3 172.24.0.20 80 || fail "round $round: the pod could not connect to the node's own backend"
done
wait_for_count '.type == "outcome" and .flow.src == "10.244.0.2" and .flow.dst == "172.24.0.20" and .state == "answered"' 2 10 ||
  fail "the pod's flows to a backend on the node were not both reported answered: $(jq -cR 'fromjson? | select(.type == "outcome" or .type == "diagnosis")' "$OUT")"
outcome=$(wait_for_line '.type == "outcome" and .flow.src == "10.244.0.2"' 1)
assert_json "$outcome" '.forwarded == true and .dnat.ip == "10.244.0.1" and .dnat.port == 8080' "forwarded, DNAT to the node's address"
assert_json "$outcome" '.reply.dev == null and .reply.after_ms >= 0' "the answer started here: it came in by no device"
# (An answered flow's verdict is final: nothing can diagnose these two later.)
stop_svctrace
assert_exit 0
n=$(jq -cR 'fromjson? | select(.type == "diagnosis")' "$OUT" | wc -l)
[[ $n == 0 ]] || fail "expected no diagnosis, got $n: $(jq -cR 'fromjson? | select(.type == "diagnosis") | .verdict' "$OUT")"
pass
