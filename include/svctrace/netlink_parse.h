// Decoding of single rtnetlink messages, apart from any socket: NetlinkRouting applies it to what the
// kernel sends; unit tests and the fuzz target (fuzz/fuzz_netlink.cpp) apply it to bytes of their own.
// Framing is the caller's: `nlh` must point at nlmsg_len readable bytes (as libmnl's mnl_cb_run checks).
#pragma once
#include <optional>

#include "svctrace/route.h"

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

}  // namespace svctrace
