// Decoding of single rtnetlink messages, apart from any socket: NetlinkRouting applies it to what the
// kernel sends; unit tests and the fuzz target (fuzz/fuzz_netlink.cpp) apply it to bytes of their own.
// Framing is the caller's: `nlh` must point at nlmsg_len readable bytes (as libmnl's mnl_cb_run checks).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "node/route.h"

struct nlmsghdr;

namespace svctrace {

// An RTM_NEWROUTE message as a Route. `dev` stays empty: only the caller can name `oif`, in its
// namespace. nullopt for a malformed message: shorter than its struct rtmsg, or an attribute svctrace
// reads without the size of its type (an address of the message's family, a u32).
std::optional<Route> parse_route_message(const nlmsghdr* nlh);

// An RTM_NEWADDR message: the interface and its address (IFA_LOCAL, else IFA_ADDRESS); nullopt when
// it carries no address, or is malformed as above.
struct AddressMessage {
  int ifindex = 0;
  InterfaceAddress address;
};
std::optional<AddressMessage> parse_address_message(const nlmsghdr* nlh);

// An RTM_NEWRULE message as `ip rule` reads it, FRA_L3MDEV ("lookup [l3mdev-table]") included;
// nullopt when malformed as above (an FRA_L3MDEV that is not a u8).
std::optional<Rule> parse_rule_message(const nlmsghdr* nlh);

// An RTM_NEWLINK message: the device, its master (IFLA_MASTER), and for a VRF device
// (IFLA_INFO_KIND "vrf") its table (IFLA_VRF_TABLE). nullopt when malformed as above.
struct LinkMessage {
  int ifindex = 0;
  std::string name;
  int master = 0;
  unsigned flags = 0;                  // ifi_flags: IFF_UP, ...
  std::string kind;                    // IFLA_INFO_KIND: "vrf", "veth", ...; empty when not given
  std::optional<uint32_t> vrf_table;
};
std::optional<LinkMessage> parse_link_message(const nlmsghdr* nlh);

// The VRF devices among the links of a namespace, each with its members.
std::vector<Vrf> vrfs_of(const std::vector<LinkMessage>& links);

}  // namespace svctrace
