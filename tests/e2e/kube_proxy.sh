# shellcheck shell=bash
# kube-proxy's rules for the lab's API service (172.24.0.1:443, one endpoint 10.0.0.8:6443) as it
# writes them when it knows the pod CIDR: the service chain marks traffic from outside the pod CIDR
# for masquerade, and its postrouting chain masquerades what is marked. For the tests that source this
# after lib.sh (test_check_snat, test_apply_fixes).

# kube-proxy's iptables-restore input for the API service with one endpoint and pod CIDR $1, with the
# jumps it adds to the built-in chains itself. Loaded without --noflush: the node's NAT table becomes
# exactly this (the lab's plain DNAT goes).
kube_proxy_iptables() {
  cat <<EOF
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]
:KUBE-SEP-IKLFNQX6HU5AULF4 - [0:0]
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-SERVICES -m comment --comment "default/kubernetes:https cluster IP" -m tcp -p tcp -d 172.24.0.1 --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SVC-NPX46M4PTMTKRN6Y -m comment --comment "default/kubernetes:https cluster IP" -m tcp -p tcp -d 172.24.0.1 --dport 443 ! -s $1 -j KUBE-MARK-MASQ
-A KUBE-SVC-NPX46M4PTMTKRN6Y -m comment --comment "default/kubernetes:https -> 10.0.0.8:6443" -j KUBE-SEP-IKLFNQX6HU5AULF4
-A KUBE-SEP-IKLFNQX6HU5AULF4 -m comment --comment default/kubernetes:https -s 10.0.0.8 -j KUBE-MARK-MASQ
-A KUBE-SEP-IKLFNQX6HU5AULF4 -m comment --comment default/kubernetes:https -m tcp -p tcp -j DNAT --to-destination 10.0.0.8:6443
COMMIT
EOF
}

# kube-proxy's nftables mode for the same service and pod CIDR $1 (pkg/proxy/nftables' layout).
kube_proxy_nft() {
  local svc=service-NPX46M4P-default/kubernetes/tcp/https
  local ep=endpoint-K3PWAY5L-default/kubernetes/tcp/https__10.0.0.8/6443
  cat <<EOF
table ip kube-proxy {
	map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }
	chain nat-output { type nat hook output priority -100; policy accept; jump services; }
	chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; jump masquerading; }
	chain mark-for-masquerade { mark set mark or 0x4000; }
	chain masquerading { mark and 0x4000 == 0 return; mark set mark xor 0x4000; masquerade fully-random; }
	chain services { ip daddr . meta l4proto . th dport vmap @service-ips; }
	chain $svc {
		ip daddr 172.24.0.1 tcp dport 443 ip saddr != $1 jump mark-for-masquerade
		numgen random mod 1 vmap { 0 : goto $ep }
	}
	chain $ep {
		ip saddr 10.0.0.8 jump mark-for-masquerade
		meta l4proto tcp dnat to 10.0.0.8:6443
	}
}
add element ip kube-proxy service-ips { 172.24.0.1 . tcp . 443 : goto $svc }
EOF
}
