// The Kubernetes Service a NAT rule belongs to, as kube-proxy writes it into its own rules, so that
// svctrace names `default/kubernetes:https` without asking an API server. kube-proxy names a service
// port "namespace/name:port" (its ServicePortName; "namespace/name" when the port has no name):
//   iptables mode: every KUBE-SVC-* / KUBE-SEP-* rule has `-m comment --comment "default/kubernetes:https
//     cluster IP"` or `"default/kubernetes:https -> 10.0.0.8:6443"`, the name first;
//   nftables mode: its chains carry the name, "service-NPX46M4P-default/kubernetes/tcp/https",
//     "endpoint-K3PWAY5L-default/kubernetes/tcp/https__10.0.0.8/6443" (also external-, firewall-), and
//     some elements and rules a comment with the name alone ("web/empty:http").
#pragma once
#include <string>
#include <string_view>

namespace svctrace {

// "default/kubernetes:https" from a comment that starts with a service port's name, or "".
std::string kube_service_from_comment(std::string_view comment);

// "default/kubernetes:https" from kube-proxy's nft chain name, or "".
std::string kube_service_from_nft_chain(std::string_view chain);

}  // namespace svctrace
