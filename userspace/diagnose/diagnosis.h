// The diagnosis: turns a flow that got no answer (or a refusal) into a verdict with its evidence,
// naming the route that chose the wrong source and the command that fixes it. It asks the traced
// namespace's routing through RoutingView, so tests drive it with a fake.
#pragma once
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "correlate/correlator.h"
#include "correlate/address.h"
#include "diagnose/verdict.h"
#include "node/route.h"

namespace svctrace {

struct Diagnosis {
  Verdict verdict = Verdict::Unanswered;
  FlowKey flow;
  std::optional<IpAddr> dnat_ip;
  uint16_t dnat_port = 0;
  std::string egress_dev;     // the device the packet really left by
  std::string route_dev;      // the device the route to the service IP pointed at
  std::optional<Route> source_route;  // the route that chose the source (fibmatch on the service IP)
  std::optional<Rule> source_rule;    // the policy rule that sent the lookup to source_route's table
  // The VRF the flow's socket is bound to, when it is in one: its lookups, and the fix, are the VRF's.
  std::optional<Vrf> vrf;
  // In a VRF whose table has no route for the service IP: the lookup fell through to source_route's
  // table after the l3mdev rule sent it to the VRF's table.
  bool vrf_table_missed = false;
  IpAddr expected_source;     // what the egress device would use to reach the backend
  std::vector<IpAddr> egress_addresses;
  std::string fix;            // a shell command, empty when there is nothing to fix in routing
  std::optional<Route> fix_route;  // the route that command adds, when it adds one
  // Services that the whole-CIDR fix would break (their backends leave by another device); when there
  // are any, the fix is narrowed to the failing service IP.
  std::vector<std::string> fix_would_break;
  // Service pairs that work now and that every route fix would break (another endpoint of the same
  // service, leaving by another device): then no route fix is printed, and `fix` is a source NAT for
  // exactly the broken direction, if one passes.
  std::vector<std::string> fix_conflicts;
  std::string fix_alternative;     // what makes the source NAT fix unnecessary (kube-proxy's setting)
  std::string no_source_nat_why;   // with fix_conflicts and no fix: why no source NAT was printed either
  // Why no route can be the fix at all: the service IP is this node's own address (kube-proxy's IPVS
  // mode binds it to kube-ipvs0), so the local route decides the source whatever else is added.
  std::string no_route_fix_why;
  size_t fix_checked_against = 0;  // how many service pairs the printed fix was checked against
  bool fix_proven = false;         // checked by a kernel (a scratch namespace), not by svctrace's reasoning
  std::string persistent_tool;     // what manages the egress device (systemd-networkd, ...), if known
  std::string persistent_fix;      // how to make the fix survive a reboot with that tool
  std::string reason;         // one sentence on why this verdict
  // Evidence: what was seen.
  uint32_t syns = 0;
  uint32_t retransmits = 0;
  uint64_t waited_ns = 0;     // from the first packet to the verdict
  bool preexisting = false;   // the flow started before svctrace: conntrack's entry is all it knows of it
  std::optional<RouteDecision> route_seen;
  std::string route_seen_dev;
  uint32_t pid = 0;
  std::string comm;
  Container container;
  std::string service, pod;  // the flow's Kubernetes names (Flow::service, Flow::pod), "" unknown
  bool forwarded = false;     // the flow came through this node (a pod's), not from it
  std::string ingress_dev;
  std::string reply_dev;      // where the reply arrived, if one did
  std::string drop_reason;    // the kernel's name for why it dropped the reply ("IP_RPFILTER")
  std::string drop_dev;
  uint32_t drops = 0;
  std::string answered_by;    // "rst", "icmp type 3 code 3", ...
  // no_route_back, on a backend: the device the SYNs came in by, the tables a lookup for the answer
  // goes through now (rule by rule, as the kernel's), the route it finds now if the routing has changed
  // since, and the command that shows the kernel's own answer.
  std::string arrival_dev;
  uint32_t missed_table = 0;           // where the kernel's lookup missed when the SYNs came
  std::vector<std::string> tables_tried;
  std::optional<Route> route_back_now;
  std::string check;
  // The last routing change seen before the flow's first packet, and how long before.
  std::optional<RoutingChange> preceding_change;
  double preceding_change_s = 0;
};

using DropReasonNames = std::unordered_map<uint32_t, std::string>;

// The CIDR of `cidrs` that holds ip, or ip/32 if none does.
Cidr covering_cidr(const std::vector<Cidr>& cidrs, const IpAddr& ip);

// The VRF a flow's socket was bound to, if any: the VRF whose table the route hook saw the service
// IP's lookup match in; or, when that lookup fell through the VRF's table, the VRF of the device the
// DNAT'd packet left by, if only a lookup in that VRF leads there. nullopt outside any VRF.
std::optional<Vrf> flow_vrf(const Flow& flow, RoutingView& routing);

// `ip route add|replace ...` for a fix route (`replace` when its table has a route for that prefix).
std::string route_fix_command(const Route& fix, RoutingView& routing);

// Whether s is a shell word as it stands: letters, digits and _ - . @ + = , % / : only. A device
// name may hold ; $ ' and the like (the kernel refuses only /, : and spaces).
bool plain_word(const std::string& s);
// s as one word of a shell command: itself when plain_word, else single-quoted. A fix is pasted into
// a shell, and svctrace runs some in its scratch namespace.
std::string shell_word(const std::string& s);

// `PREFIX [via GW] dev DEV [src SRC] [table T]`: fix as `ip route add` and `replace` take it.
std::string ip_route_args(const Route& fix);

// `sysctl -w net.ipv4.conf.DEV.KEY=VALUE`, with DEV's dots written as slashes, as sysctl wants them
// (eth0.100, a VLAN, is net.ipv4.conf.eth0/100).
std::string sysctl_conf_command(const std::string& dev, const std::string& key, int value);

// Only for flows in state Unanswered or Refused.
// drop_reasons names the kernel's enum skb_drop_reason values (see load_drop_reason_names()).
Diagnosis diagnose(const Flow& flow, RoutingView& routing, const std::vector<Cidr>& cidrs,
                   const DropReasonNames& drop_reasons = {});

}  // namespace svctrace
