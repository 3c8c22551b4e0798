// Fuzz target: rtnetlink replies as NetlinkRouting receives them. The input is one receive buffer of
// messages; each RTM_NEWROUTE, RTM_NEWADDR, RTM_NEWRULE and RTM_NEWLINK in it is decoded
// (svctrace/netlink_parse.h), and routes and rules printed as a diagnosis prints them.
#include <linux/rtnetlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "node/netlink_parse.h"
#include "node/route.h"

using namespace svctrace;

static void on_message(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type == RTM_NEWROUTE) {
    if (std::optional<Route> r = parse_route_message(nlh)) {
      r->dev = "eth0";
      (void)format_route(*r);
    }
  } else if (nlh->nlmsg_type == RTM_NEWADDR) {
    if (std::optional<AddressMessage> a = parse_address_message(nlh)) (void)a->address.addr.str();
  } else if (nlh->nlmsg_type == RTM_NEWRULE) {
    if (std::optional<Rule> r = parse_rule_message(nlh)) (void)format_rule(*r);
  } else if (nlh->nlmsg_type == RTM_NEWLINK) {
    if (std::optional<LinkMessage> l = parse_link_message(nlh)) (void)vrfs_of({*l});
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Framed as the kernel frames a reply: each nlmsg_len within what is left of the buffer. (libmnl's
  // own check, mnl_nlmsg_ok(), takes an nlmsg_len of 2^31 or more for valid and mnl_cb_run() then
  // calls back on the same message forever; only a forged message does that, never the kernel.)
  size_t off = 0;
  while (off + sizeof(nlmsghdr) <= size) {
    nlmsghdr hdr;
    std::memcpy(&hdr, data + off, sizeof hdr);
    if (hdr.nlmsg_len < sizeof hdr || hdr.nlmsg_len > size - off) break;
    // Each message in a heap block of its own, of nlmsg_len bytes rounded up to the 4-byte alignment
    // libmnl assumes of every message: a read past the message is a read past the block, which ASan
    // reports.
    std::unique_ptr<uint8_t[]> msg(new uint8_t[NLMSG_ALIGN(hdr.nlmsg_len)]());
    std::memcpy(msg.get(), data + off, hdr.nlmsg_len);
    on_message(reinterpret_cast<const nlmsghdr*>(msg.get()));
    off += NLMSG_ALIGN(hdr.nlmsg_len);
  }
  return 0;
}
