#!/usr/bin/env bash
# Failures that are not the routing's fault must not be blamed on a route: with the fix route in place
# (the source is right), a backend that resets is "refused" and a backend that is not there is
# "unanswered", and neither gets a fix.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

lab up >/dev/null
lab fix >/dev/null
# Two more services in the node namespace: one DNAT'd to a closed port of the api namespace (RST),
# one DNAT'd to an address on enslf0's subnet where nobody lives (no answer at all).
ip netns exec "$NODE" iptables -t nat -A OUTPUT -d 172.24.0.2/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6444
ip netns exec "$NODE" iptables -t nat -A OUTPUT -d 172.24.0.3/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.99:6443
# And a UDP service DNAT'd to a closed UDP port: the api answers with ICMP port unreachable.
ip netns exec "$NODE" iptables -t nat -A OUTPUT -d 172.24.0.4/32 -p udp --dport 53 -j DNAT --to-destination 10.0.0.8:5399
# A service with no endpoints (kube-proxy REJECTs it in the filter table), and one with no rules at all.
ip netns exec "$NODE" iptables -A OUTPUT -d 172.24.0.5/32 -p tcp --dport 443 -j REJECT

start_svctrace --netns "$NODE" --cidr "$CIDR" --json --report "$REPORT" --duration 60
ip netns exec "$NODE" nc -z -w 1 172.24.0.2 443 >/dev/null 2>&1 || true
ip netns exec "$NODE" nc -z -w 3 172.24.0.3 443 >/dev/null 2>&1 &
nc_pid=$!

refused=$(wait_for_line '.type == "diagnosis" and .flow.dst == "172.24.0.2"' 10) ||
  fail "no diagnosis for the refused service within 10 s"
assert_json "$refused" '.verdict == "refused"' "closed backend port is refused"
assert_json "$refused" '.fix == null and .source_route == null' "refused is not blamed on a route"
assert_json "$refused" '.dnat.ip == "10.0.0.8" and .dnat.port == 6444' "refused names the DNAT target"

silent=$(wait_for_line '.type == "diagnosis" and .flow.dst == "172.24.0.3"' 10) ||
  fail "no diagnosis for the silent backend within 10 s"
assert_json "$silent" '.verdict == "unanswered"' "a missing backend with the right source is unanswered"
assert_json "$silent" '.fix == null and .source_route == null' "unanswered with the right source gets no route fix"
assert_json "$silent" '.flow.src == "10.0.0.12" and .egress_dev == "enslf0"' "source and egress are the cluster NIC"
wait "$nc_pid" || true

ip netns exec "$NODE" bash -c 'echo x >/dev/udp/172.24.0.4/53' 2>/dev/null || true
icmp=$(wait_for_line '.type == "diagnosis" and .flow.dst == "172.24.0.4"' 10) ||
  fail "no diagnosis for the UDP service answered by ICMP"
assert_json "$icmp" '.verdict == "refused" and .evidence.answered_by == "icmp type 3 code 3"' \
  "ICMP port unreachable is refused, with the ICMP type and code"
assert_json "$icmp" '.fix == null' "ICMP refusal is not blamed on a route"

ip netns exec "$NODE" nc -z -w 1 172.24.0.5 443 >/dev/null 2>&1 || true
rejected=$(wait_for_line '.type == "diagnosis" and .flow.dst == "172.24.0.5"' 10) ||
  fail "no diagnosis for the service without endpoints"
assert_json "$rejected" '.verdict == "no_endpoints" and .dnat == null and .fix == null' "REJECTed service: no_endpoints"

ip netns exec "$NODE" nc -z -w 2 172.24.0.6 443 >/dev/null 2>&1 || true
bare=$(wait_for_line '.type == "diagnosis" and .flow.dst == "172.24.0.6"' 10) ||
  fail "no diagnosis for the service without NAT rules"
if before_netfilter_links; then
  # The fix route makes the service IP on-link: its next hop never resolves, so its packets never
  # reach the driver queue, and whether they were DNAT'd is not known. Said as such, not guessed.
  assert_json "$bare" '.verdict == "unanswered" and .dnat == null and .fix == null' \
    "service without rules, its NAT unseen: unanswered ($BEFORE_NETFILTER_LINKS)"
  assert_json "$bare" '.reason | test("no DNAT was seen")' "reason says no DNAT was seen"
else
  assert_json "$bare" '.verdict == "not_dnatted" and .dnat == null and .fix == null' "service without rules: not_dnatted"
  assert_json "$bare" '.reason | test("NAT rules .* are missing")' "reason says the rules are missing"
fi

# A firewall rule of the node itself dropping the DNAT'd packets.
ip netns exec "$NODE" iptables -t nat -A OUTPUT -d 172.24.0.7/32 -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:7443
ip netns exec "$NODE" iptables -A OUTPUT -d 10.0.0.8/32 -p tcp --dport 7443 -j DROP
ip netns exec "$NODE" nc -z -w 2 172.24.0.7 443 >/dev/null 2>&1 || true
dropped=$(wait_for_line '.type == "diagnosis" and .flow.dst == "172.24.0.7"' 10) ||
  fail "no diagnosis for the flow a local rule dropped"
assert_json "$dropped" '.verdict == "dropped_here" and .evidence.drops.reason == "NETFILTER_DROP" and .fix == null' \
  "a local DROP rule: dropped_here, with the kernel's reason"

stop_svctrace
assert_exit 3
assert_detached
pass
