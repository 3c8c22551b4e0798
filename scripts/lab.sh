#!/usr/bin/env bash
# Rebuilds the svctrace incident (docs: mission.md) with three network namespaces:
#
#   ${P}-api  eth0 10.0.0.8/24 ---- enslf0 10.0.0.12/24   ${P}-node   enslf1 10.141.13.182/24 ---- eth0 10.141.13.1/24  ${P}-gw
#   (listens on 6443, no route            default via 10.141.13.1 dev enslf1                   (no forwarding)
#    back to 10.141.13.0/24)              OUTPUT DNAT 172.24.0.1:443 -> 10.0.0.8:6443
#
# A connect from ${P}-node to 172.24.0.1:443 picks source 10.141.13.182 (from the default route), is
# DNATed to 10.0.0.8 and leaves enslf0 with that source; the api cannot reply, so the SYNs go unanswered.
# `fix` adds the Service-CIDR route that makes the source 10.0.0.12.
#
# `up --nat nft` expresses the service DNAT with nftables instead of iptables: the API service as
# kube-proxy's nftables mode lays it out (table ip kube-proxy: the service-ips verdict map -> a
# service chain -> an endpoint chain that DNATs, on the output and prerouting hooks), the DNS-like
# service as a hand-written rule in a table of its own. The variants that add DNAT (pod-up, ipv6)
# follow the mode `up` chose.
#
# `up --nat ipvs` is kube-proxy's IPVS mode: the service IPs are addresses of a dummy kube-ipvs0 (so
# the local table routes them: the source of a connect from ${P}-node is the service IP itself), IPVS
# virtual servers forward to the endpoints in masquerading mode, net.ipv4.vs.conntrack=1 keeps
# conntrack entries for them. kube-proxy's masquerade rule is what is missing (a node without
# clusterCIDR or masqueradeAll), so the api cannot answer; `fix` adds it, as kube-proxy lays it out
# (KUBE-MARK-MASQ on the way out, MASQUERADE of the marked packets on POSTROUTING).
#
# Variants, on top of `up`:
#   udp          one UDP query from ${P}-node to the DNS-like service 172.24.0.10:53 (DNAT 10.0.0.8:5353)
#   pod-up       a ${P}-pod namespace (10.244.0.2, behind cni0 10.244.0.1 in ${P}-node) whose connects
#                to 172.24.0.1:443 are DNATed in ${P}-node's PREROUTING and forwarded
#   masquerade   MASQUERADE pod traffic leaving enslf0, so the api can answer it
#   pod-connect  one bounded TCP attempt from ${P}-pod to 172.24.0.1:443
#   ipv6         the same incident over IPv6: enslf0 fd00:0:0:1::12/64 (api fd00:0:0:1::8), enslf1
#                fd00:141::182/64 (gw fd00:141::1), default via fd00:141::1, service [fd00:10:96::1]:443
#                DNAT [fd00:0:0:1::8]:6443; `fix6` adds fd00:10:96::/112 dev enslf0 src fd00:0:0:1::12;
#                `connect6` tries it from ${P}-node
#   egress-del   delete enslf0 (the veth to the api: the api's eth0 goes with it); egress-add re-creates
#                both, as new devices with the same names and addresses
#   no-endpoints an IPVS virtual server 172.24.0.20:443 with no real server (with --nat ipvs only): a
#                service whose endpoints are all gone
#   rpfilter     give the api a way back to 10.141.13.0/24 through ${P}-gw, and make ${P}-node's
#                rp_filter strict: the SYN-ACK now comes back on enslf1 and is dropped there
#   policy       the service CIDR routed by table 200 (via enslf1, src 10.141.13.182), chosen by rule
#                1000 (to 172.24.0.0/13 lookup 200)
#   vrf          enslf0 and enslf1 enslaved to VRF vrf-blue (table 10, the l3mdev rule at 1000) with the
#                morning's default route in table 10; exit 3, saying why, where the kernel makes no
#                VRF (CONFIG_NET_VRF) or l3mdev rule. `vrf-connect` and `vrf-udp` try the services from
#                a socket bound to vrf-blue
#   second-service  a second TCP service in the CIDR, 172.24.0.50:80, DNAT 10.141.13.1:8080: an echo
#                server in ${P}-gw, on enslf1's network, which works with the incident's routes;
#                `second-connect` tries it
#
# The connect commands (connect, udp, pod-connect, connect6, vrf-connect, vrf-udp, second-connect)
# make --count attempts (default 1), each bounded by --timeout, and say ok (answered) only when every
# one worked; with more than one, a failure says how many did.
#
# Usage: scripts/lab.sh up|down|fix|unfix|connect|udp|pod-up|masquerade|pod-connect|rpfilter|egress-del|egress-add|ipv6|fix6|connect6|policy|vrf|vrf-connect|vrf-udp|second-service|second-connect|no-endpoints
#                       [--prefix P] [--timeout N] [--count N] [--nat iptables|nft|ipvs]
# All traffic starts inside the namespaces and goes only to their addresses; nothing is sent from the
# root namespace.
set -euo pipefail

usage() {
  echo "usage: $0 up|down|fix|unfix|connect|udp|pod-up|masquerade|pod-connect|rpfilter|egress-del|egress-add|ipv6|fix6|connect6|policy|vrf|vrf-connect|vrf-udp|second-service|second-connect|no-endpoints [--prefix P] [--timeout N] [--count N] [--nat iptables|nft|ipvs]   (prefix default \$LAB_PREFIX or svct; --nat with up)" >&2
  exit 2
}

(($# >= 1)) || usage
cmd=$1
shift
prefix=${LAB_PREFIX:-svct}
timeout=3
count=1
nat=""
while (($#)); do
  case $1 in
    --prefix) (($# >= 2)) || usage; prefix=$2; shift 2 ;;
    --timeout) (($# >= 2)) || usage; timeout=$2; shift 2 ;;
    --count) (($# >= 2)) || usage; count=$2; shift 2 ;;
    --nat) (($# >= 2)) || usage; nat=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ -z $nat || ($cmd == up && ($nat == iptables || $nat == nft || $nat == ipvs)) ]] ||
  { echo "lab: --nat iptables|nft|ipvs goes with up (got '$nat' with $cmd)" >&2; exit 2; }
[[ $prefix =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || { echo "lab: bad prefix '$prefix'" >&2; exit 2; }
if ! [[ $timeout =~ ^[1-9][0-9]*$ ]]; then echo "lab: bad timeout '$timeout'" >&2; exit 2; fi
if ! [[ $count =~ ^[1-9][0-9]*$ ]]; then echo "lab: bad count '$count'" >&2; exit 2; fi
((EUID == 0)) || { echo "lab: must run as root" >&2; exit 1; }

NODE=$prefix-node
API=$prefix-api
GW=$prefix-gw
POD=$prefix-pod
STATE=/run/svctrace-lab/$prefix
SVC_IP=172.24.0.1
SVC_CIDR=172.24.0.0/13
DNS_IP=172.24.0.10

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ns_exists() { [[ -e /run/netns/$1 ]]; }

lab_down() {
  # Kill every process still living in our namespaces (the listener and any forked socat child): a
  # process holds its netns alive after `ip netns del`. `ip netns pids` names exactly those processes.
  local ns pid i pids=()
  for ns in "$API" "$NODE" "$GW" "$POD"; do
    ns_exists "$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
  done
  # The recorded listener pid too, in case its namespace is already gone (checked to still be socat).
  if [[ -f $STATE/listener.pid ]]; then
    pid=$(<"$STATE/listener.pid")
    if [[ $pid =~ ^[0-9]+$ ]] && grep -qs socat "/proc/$pid/comm"; then pids+=("$pid"); fi
  fi
  if ((${#pids[@]})); then
    kill "${pids[@]}" 2>/dev/null || true
    # Bounded wait for them to go (kill is asynchronous), then SIGKILL the stragglers.
    for ((i = 0; i < 40; i++)); do
      kill -0 "${pids[@]}" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
  for ns in "$API" "$NODE" "$GW" "$POD"; do
    if ns_exists "$ns"; then ip netns del "$ns" 2>/dev/null || true; fi
  done
  rm -rf "$STATE"
}

lab_up() {
  lab_down
  mkdir -p "$STATE"
  local ns
  for ns in "$NODE" "$API" "$GW"; do
    ip netns add "$ns"
    # IPv4 only: no IPv6 on any interface, so no DAD, no router solicitations, nothing to wait for.
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    in_ns "$ns" ip link set lo up
  done

  # veth pairs created directly inside the namespaces: no names in the root namespace, so several
  # prefixes can coexist.
  wire_egress
  ip link add enslf1 netns "$NODE" type veth peer name eth0 netns "$GW"

  in_ns "$NODE" ip addr add 10.141.13.182/24 dev enslf1
  in_ns "$NODE" ip link set enslf1 up
  # The morning's change: the default route now leaves through the network the platform doesn't use.
  in_ns "$NODE" ip route add default via 10.141.13.1 dev enslf1
  echo "${nat:-iptables}" >"$STATE/nat"
  if [[ $nat == nft ]]; then
    nft_services
  elif [[ $nat == ipvs ]]; then
    ipvs_services
  else
    # kube-proxy's rule, reduced to the one endpoint.
    in_ns "$NODE" iptables -t nat -A OUTPUT -d "$SVC_IP/32" -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6443
    # A DNS-like UDP service, answered by a UDP echo in the api namespace.
    in_ns "$NODE" iptables -t nat -A OUTPUT -d "$DNS_IP/32" -p udp --dport 53 -j DNAT --to-destination 10.0.0.8:5353
  fi

  # gw: just its address. Forwarding stays off (the default in a new netns) and it owns nothing in
  # 172.24.0.0/13, so it neither forwards nor answers for the Service IP.
  in_ns "$GW" ip addr add 10.141.13.1/24 dev eth0
  in_ns "$GW" ip link set eth0 up
  in_ns "$GW" sysctl -qw net.ipv4.ip_forward=0

  # The API server stand-in: an echo server. setsid detaches it from our session and stdio so callers
  # capturing our output are not held open; its pid is recorded for `down`.
  setsid ip netns exec "$API" socat TCP-LISTEN:6443,fork,reuseaddr EXEC:/bin/cat \
    </dev/null >"$STATE/listener.log" 2>&1 &
  echo $! >"$STATE/listener.pid"
  setsid ip netns exec "$API" socat UDP-LISTEN:5353,fork,reuseaddr EXEC:/bin/cat \
    </dev/null >"$STATE/udp-listener.log" 2>&1 &

  # Return only once it is really listening.
  local i
  for ((i = 0; i < 100; i++)); do
    if in_ns "$API" ss -Hltn 'sport = :6443' | grep -q . && in_ns "$API" ss -Hlun 'sport = :5353' | grep -q .; then
      echo "lab '$prefix' up: $NODE $API $GW (listener pid $(<"$STATE/listener.pid"))"
      return 0
    fi
    kill -0 "$(<"$STATE/listener.pid")" 2>/dev/null || break
    sleep 0.05
  done
  echo "lab: listener in $API did not come up:" >&2
  cat "$STATE/listener.log" >&2 || true
  lab_down
  return 1
}

# The link node enslf0 10.0.0.12 <-> api eth0 10.0.0.8: the backend's path. The api has only the
# connected 10.0.0.0/24 route, so a SYN from 10.141.13.182 cannot be answered. `egress-del` takes the
# link away (both ends: they are one veth pair) and `egress-add` puts it back as new devices.
wire_egress() {
  ip link add enslf0 netns "$NODE" type veth peer name eth0 netns "$API"
  in_ns "$NODE" ip addr add 10.0.0.12/24 dev enslf0
  in_ns "$NODE" ip link set enslf0 up
  in_ns "$API" ip addr add 10.0.0.8/24 dev eth0
  in_ns "$API" ip link set eth0 up
}

# The NAT mode `up` chose: iptables or nft.
nat_mode() { cat "$STATE/nat" 2>/dev/null || echo iptables; }

# kube-proxy's nftables mode for one family, reduced to the one service with one endpoint: FAMILY
# (ip/ip6), the address type, the daddr match, the service IP, and the endpoint (address as nft
# writes it in dnat, and as kube-proxy writes it in chain names, where ':' cannot go).
nft_kube_proxy() {
  local family=$1 type=$2 daddr=$3 svc=$4 ep=$5 ep_name=$6
  local svc_chain=service-NPX46M4P-default/kubernetes/tcp/https
  local ep_chain=endpoint-K3PWAY5L-default/kubernetes/tcp/https__$ep_name/6443
  in_ns "$NODE" nft -f - <<EOF
table $family kube-proxy {
	comment "rules for kube-proxy"
	map service-ips {
		type $type . inet_proto . inet_service : verdict
		comment "ClusterIP, ExternalIP and LoadBalancer IP traffic"
	}
	chain nat-output { type nat hook output priority -100; policy accept; jump services; }
	chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }
	chain services { $daddr . meta l4proto . th dport vmap @service-ips; }
	chain $svc_chain { numgen random mod 1 vmap { 0 : goto $ep_chain }; }
	chain $ep_chain { meta l4proto tcp dnat to $ep:6443; }
}
add element $family kube-proxy service-ips { $svc . tcp . 443 : goto $svc_chain }
EOF
}

nft_services() {
  nft_kube_proxy ip ipv4_addr "ip daddr" "$SVC_IP" 10.0.0.8 10.0.0.8
  in_ns "$NODE" nft -f - <<EOF
table ip lab-dns {
	chain output { type nat hook output priority -100; policy accept; ip daddr $DNS_IP udp dport 53 dnat to 10.0.0.8:5353; }
}
EOF
}

# kube-proxy's IPVS mode for the two services: their IPs on kube-ipvs0 (a dummy kube-proxy leaves
# down: the kernel adds the local routes all the same), a virtual server each, forwarding to the
# endpoint by masquerading (-m), and conntrack entries for IPVS's connections.
IPVS_DEV=kube-ipvs0
ipvs_services() {
  modprobe ip_vs 2>/dev/null || [[ -d /sys/module/ip_vs ]] ||
    { echo "lab: --nat ipvs needs the ip_vs module, which this kernel ($(uname -r)) cannot load" >&2; return 1; }
  command -v ipvsadm >/dev/null || { echo "lab: --nat ipvs needs ipvsadm (scripts/install-deps.sh)" >&2; return 1; }
  in_ns "$NODE" ip link add "$IPVS_DEV" type dummy
  in_ns "$NODE" sysctl -qw net.ipv4.vs.conntrack=1
  ipvs_service tcp "$SVC_IP" 443 10.0.0.8:6443
  ipvs_service udp "$DNS_IP" 53 10.0.0.8:5353
  ipvs_kube_proxy_chains
}

# ipvs_service tcp|udp IP PORT [ENDPOINT]: a virtual server, with ENDPOINT as its real server.
ipvs_service() {
  local proto=$1 ip=$2 port=$3 endpoint=${4:-} flag
  [[ $proto == tcp ]] && flag=-t || flag=-u
  in_ns "$NODE" ip addr replace "$ip/32" dev "$IPVS_DEV"
  in_ns "$NODE" ipvsadm -A "$flag" "$ip:$port" -s rr
  [[ -z $endpoint ]] || in_ns "$NODE" ipvsadm -a "$flag" "$ip:$port" -r "$endpoint" -m
}

# kube-proxy's NAT chains in IPVS mode (they also make conntrack track the namespace's flows, which
# IPVS's entries need): KUBE-SERVICES on the way out, MASQUERADE of what KUBE-MARK-MASQ marked. Only
# the rule that marks this node's service traffic is missing: kube-proxy adds it with masqueradeAll
# or for sources outside clusterCIDR, and this node has neither. (kube-proxy matches the service IPs
# with an ipset; a destination CIDR stands in for it.)
ipvs_kube_proxy_chains() {
  in_ns "$NODE" iptables-restore --noflush <<EOF
*nat
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
-A OUTPUT -j KUBE-SERVICES
-A POSTROUTING -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -j MASQUERADE
COMMIT
EOF
}

# The rule `fix` adds and `unfix` takes away: kube-proxy's masqueradeAll.
IPVS_MASQ_RULE=(KUBE-SERVICES -d "$SVC_CIDR" -j KUBE-MARK-MASQ)

pod_up() {
  need_up
  ip netns add "$POD"
  in_ns "$POD" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
  in_ns "$POD" ip link set lo up
  ip link add cni0 netns "$NODE" type veth peer name eth0 netns "$POD"
  in_ns "$NODE" ip addr add 10.244.0.1/24 dev cni0
  in_ns "$NODE" ip link set cni0 up
  in_ns "$POD" ip addr add 10.244.0.2/24 dev eth0
  in_ns "$POD" ip link set eth0 up
  in_ns "$POD" ip route add default via 10.244.0.1
  in_ns "$NODE" sysctl -qw net.ipv4.ip_forward=1
  # kube-proxy's rule for traffic that comes in from pods (its nftables table has the prerouting
  # chain already).
  if [[ $(nat_mode) == iptables ]]; then
    in_ns "$NODE" iptables -t nat -A PREROUTING -d "$SVC_IP/32" -p tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6443
  fi
  echo "lab '$prefix': pod $POD 10.244.0.2 behind cni0"
}

rpfilter() {
  need_up
  # A second link api <-> gw, and forwarding on gw: the api's replies to 10.141.13.0/24 now reach
  # the node on enslf1, where strict reverse-path filtering expects 10.0.0.8 on enslf0.
  ip link add eth1 netns "$API" type veth peer name eth1 netns "$GW"
  in_ns "$API" ip addr add 192.168.50.2/24 dev eth1
  in_ns "$API" ip link set eth1 up
  in_ns "$GW" ip addr add 192.168.50.1/24 dev eth1
  in_ns "$GW" ip link set eth1 up
  in_ns "$GW" sysctl -qw net.ipv4.ip_forward=1
  in_ns "$API" ip route add 10.141.13.0/24 via 192.168.50.1
  in_ns "$NODE" sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.enslf1.rp_filter=1
  echo "lab '$prefix': replies to 10.141.13.182 return on enslf1; rp_filter strict"
}

ipv6() {
  need_up
  local ns
  for ns in "$NODE" "$API" "$GW"; do
    # Addresses without DAD (nodad) and no router advertisements: usable at once, nothing added behind
    # our back.
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
      net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
  done
  in_ns "$NODE" sysctl -qw net.ipv6.conf.enslf0.disable_ipv6=0 net.ipv6.conf.enslf1.disable_ipv6=0
  in_ns "$API" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0
  in_ns "$GW" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0
  in_ns "$NODE" ip -6 addr add fd00:0:0:1::12/64 dev enslf0 nodad
  in_ns "$NODE" ip -6 addr add fd00:141::182/64 dev enslf1 nodad
  in_ns "$API" ip -6 addr add fd00:0:0:1::8/64 dev eth0 nodad
  in_ns "$GW" ip -6 addr add fd00:141::1/64 dev eth0 nodad
  in_ns "$NODE" ip -6 route add default via fd00:141::1 dev enslf1
  if [[ $(nat_mode) == nft ]]; then
    nft_kube_proxy ip6 ipv6_addr "ip6 daddr" fd00:10:96::1 '[fd00:0:0:1::8]' fd00.0.0.1..8
  else
    in_ns "$NODE" ip6tables -t nat -A OUTPUT -d fd00:10:96::1/128 -p tcp --dport 443 -j DNAT --to-destination '[fd00:0:0:1::8]:6443'
  fi
  setsid ip netns exec "$API" socat TCP6-LISTEN:6443,fork,reuseaddr,ipv6only=1 EXEC:/bin/cat \
    </dev/null >"$STATE/listener6.log" 2>&1 &
  wait_listening "$API" -Hltn6 6443 || { echo "lab: IPv6 listener did not come up" >&2; return 1; }
  echo "lab '$prefix': IPv6 up"
}

policy() {
  need_up
  in_ns "$NODE" ip route add "$SVC_CIDR" via 10.141.13.1 dev enslf1 src 10.141.13.182 table 200
  in_ns "$NODE" ip rule add to "$SVC_CIDR" lookup 200 priority 1000
  echo "lab '$prefix': $SVC_CIDR routed by table 200 via enslf1, rule 1000"
}

vrf() {
  need_up
  local err
  err=$(in_ns "$NODE" ip rule add l3mdev pref 1000 2>&1) ||
    { echo "lab: this kernel refuses an l3mdev rule: $err" >&2; exit 3; }
  err=$(in_ns "$NODE" ip link add vrf-blue type vrf table 10 2>&1) ||
    { echo "lab: this kernel makes no VRF device: $err" >&2; exit 3; }
  in_ns "$NODE" ip link set vrf-blue up
  # Enslaving moves the NICs' connected and local routes to table 10 and drops main's routes through
  # them: the morning's default route goes into the VRF's table.
  in_ns "$NODE" ip link set enslf0 master vrf-blue
  in_ns "$NODE" ip link set enslf1 master vrf-blue
  in_ns "$NODE" ip route add default via 10.141.13.1 dev enslf1 table 10
  echo "lab '$prefix': enslf0 and enslf1 in VRF vrf-blue (table 10)"
}

second_service() {
  need_up
  if [[ $(nat_mode) == nft ]]; then
    in_ns "$NODE" nft add rule ip lab-dns output ip daddr 172.24.0.50 tcp dport 80 dnat to 10.141.13.1:8080
  else
    in_ns "$NODE" iptables -t nat -A OUTPUT -d 172.24.0.50/32 -p tcp --dport 80 -j DNAT --to-destination 10.141.13.1:8080
  fi
  setsid ip netns exec "$GW" socat TCP-LISTEN:8080,fork,reuseaddr EXEC:/bin/cat \
    </dev/null >"$STATE/second-listener.log" 2>&1 &
  wait_listening "$GW" -Hltn 8080 || { echo "lab: the second service's listener did not come up" >&2; return 1; }
  echo "lab '$prefix': second service 172.24.0.50:80 -> 10.141.13.1:8080 in $GW"
}

# wait_listening NS SS_FLAGS PORT: true once something in NS listens on PORT (ss SS_FLAGS), within 5 s.
wait_listening() {
  local i
  for ((i = 0; i < 100; i++)); do
    in_ns "$1" ss "$2" "sport = :$3" | grep -q . && return 0
    sleep 0.05
  done
  return 1
}

# attempts WHAT OK FAILED CMD...: CMD --count times (each one bounded attempt); prints "WHAT: OK" when
# every one worked, else "WHAT: FAILED", with how many worked when there were several. The outcome is
# reported, never turned into a failing exit status.
attempts() {
  local what=$1 ok=$2 failed=$3 worked=0 i
  shift 3
  for ((i = 0; i < count; i++)); do
    if "$@"; then worked=$((worked + 1)); fi
  done
  if ((worked == count)); then
    echo "$what: $ok"
  elif ((count == 1)); then
    echo "$what: $failed"
  else
    echo "$what: $failed ($worked of $count $ok)"
  fi
}

# One bounded attempt each: a TCP connect from NS (nc's flags before the address), a UDP query
# answered by the echo.
tcp_attempt() { in_ns "$1" nc "${@:4}" -z -w "$timeout" "$2" "$3" 2>/dev/null; }
udp_attempt() {
  [[ $(echo query | in_ns "$NODE" timeout "$timeout" socat -T "$timeout" - "UDP:$DNS_IP:53$1" 2>/dev/null) == query ]]
}
# From a socket bound to vrf-blue (SO_BINDTODEVICE: what `ip vrf exec` arranges through a cgroup BPF
# program, which not every host allows); the echo server answers what it is sent.
vrf_tcp_attempt() {
  echo ping | in_ns "$NODE" timeout $((timeout + 3)) socat -T 2 - \
    "TCP:$SVC_IP:443,so-bindtodevice=vrf-blue,connect-timeout=$timeout" >/dev/null 2>&1
}

need_up() { ns_exists "$NODE" || { echo "lab: '$prefix' is not up (no netns $NODE)" >&2; exit 1; }; }

case $cmd in
  up) lab_up ;;
  down) lab_down; echo "lab '$prefix' down" ;;
  fix)
    need_up
    if [[ $(nat_mode) == ipvs ]]; then
      # The service IP is local (kube-ipvs0): no route can change the source, the masquerade does.
      in_ns "$NODE" iptables -t nat -C "${IPVS_MASQ_RULE[@]}" 2>/dev/null ||
        in_ns "$NODE" iptables -t nat -A "${IPVS_MASQ_RULE[@]}"
      echo "lab '$prefix' fixed: kube-proxy's masquerade of service traffic"
      exit 0
    fi
    # `replace` rather than `add` so fix is idempotent; same route as `ip route add`.
    in_ns "$NODE" ip route replace "$SVC_CIDR" dev enslf0 src 10.0.0.12
    echo "lab '$prefix' fixed: $SVC_CIDR dev enslf0 src 10.0.0.12"
    ;;
  unfix)
    need_up
    [[ $(nat_mode) != ipvs ]] || in_ns "$NODE" iptables -t nat -D "${IPVS_MASQ_RULE[@]}" 2>/dev/null || true
    in_ns "$NODE" ip route del "$SVC_CIDR" dev enslf0 2>/dev/null || true
    echo "lab '$prefix' unfixed"
    ;;
  connect)
    need_up
    attempts "connect $SVC_IP:443 from $NODE" ok failed tcp_attempt "$NODE" "$SVC_IP" 443
    ;;
  udp)
    need_up
    attempts "udp $DNS_IP:53 from $NODE" answered "no answer" udp_attempt ""
    ;;
  pod-up) pod_up ;;
  masquerade)
    need_up
    in_ns "$NODE" iptables -t nat -A POSTROUTING -s 10.244.0.0/24 -o enslf0 -j MASQUERADE
    echo "lab '$prefix': pod traffic masqueraded on enslf0"
    ;;
  pod-connect)
    ns_exists "$POD" || { echo "lab: no pod namespace (run pod-up)" >&2; exit 1; }
    attempts "connect $SVC_IP:443 from $POD" ok failed tcp_attempt "$POD" "$SVC_IP" 443
    ;;
  rpfilter) rpfilter ;;
  egress-del)
    need_up
    in_ns "$NODE" ip link del enslf0
    echo "lab '$prefix': enslf0 deleted (and the api's eth0, its peer)"
    ;;
  egress-add)
    need_up
    wire_egress
    echo "lab '$prefix': enslf0 re-created (ifindex $(in_ns "$NODE" ip -o link show enslf0 | cut -d: -f1))"
    ;;
  ipv6) ipv6 ;;
  fix6)
    need_up
    in_ns "$NODE" ip -6 route replace fd00:10:96::/112 dev enslf0 src fd00:0:0:1::12
    echo "lab '$prefix' fixed for IPv6: fd00:10:96::/112 dev enslf0 src fd00:0:0:1::12"
    ;;
  connect6)
    need_up
    attempts "connect [fd00:10:96::1]:443 from $NODE" ok failed tcp_attempt "$NODE" fd00:10:96::1 443 -6
    ;;
  policy) policy ;;
  vrf) vrf ;;
  vrf-connect)
    need_up
    attempts "connect $SVC_IP:443 from vrf-blue in $NODE" ok failed vrf_tcp_attempt
    ;;
  vrf-udp)
    need_up
    attempts "udp $DNS_IP:53 from vrf-blue in $NODE" answered "no answer" udp_attempt ",so-bindtodevice=vrf-blue"
    ;;
  second-service) second_service ;;
  second-connect)
    need_up
    attempts "connect 172.24.0.50:80 from $NODE" ok failed tcp_attempt "$NODE" 172.24.0.50 80
    ;;
  no-endpoints)
    need_up
    [[ $(nat_mode) == ipvs ]] || { echo "lab: no-endpoints goes with up --nat ipvs" >&2; exit 1; }
    ipvs_service tcp 172.24.0.20 443
    echo "lab '$prefix': IPVS virtual server 172.24.0.20:443 with no real server"
    ;;
  *) usage ;;
esac
